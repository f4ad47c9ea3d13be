#pragma once
// OCI media types and the descriptor type; JSON is nlohmann::json, whose std::map
// objects give sorted, stable key order, so the bytes we hash are deterministic.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace strata::store {

namespace media {
inline constexpr const char* index = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* config = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* layer_tar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
} // namespace media

inline constexpr const char* ref_name_annotation = "org.opencontainers.image.ref.name";
// containerd's (and docker 25+'s) annotation for an image's full name in index.json.
inline constexpr const char* containerd_name_annotation = "io.containerd.image.name";

struct Descriptor {
    std::string media_type;
    std::string digest;
    std::int64_t size = 0;
    std::map<std::string, std::string> annotations;
};

nlohmann::json to_json(const Descriptor& d);
Descriptor descriptor_from_json(const nlohmann::json& j);  // throws strata::Error on malformed input

} // namespace strata::store
