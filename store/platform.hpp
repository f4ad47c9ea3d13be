#pragma once
// Platforms ("linux/arm64/v8") and choosing an image for one from an index: what load,
// the registry client and `strata run` of a multi-platform index share.
#include "store/oci.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace strata::store {

struct Platform {
    std::string os = "linux";
    std::string architecture;  // GOARCH words: amd64, arm64, arm, 386, ...
    std::string variant;       // "" when the architecture has none (or any will do)

    std::string string() const;  // "linux/amd64", "linux/arm/v7"
};

// This machine: linux and uname's machine in GOARCH words (x86_64 is amd64).
Platform host_platform();
// "os/arch[/variant]", or "arch" alone (linux assumed); throws strata::Error when malformed.
Platform parse_platform(std::string_view text);

// The entry of an OCI index or docker manifest list for `platform`: same os and
// architecture, and the same variant when both name one; else the only entry when
// there is one without a platform. None: the index holds no such image.
std::optional<Descriptor> platform_manifest(const nlohmann::json& index, const Platform& platform);

bool is_index_media_type(std::string_view media_type);     // OCI index or docker manifest list
bool is_manifest_media_type(std::string_view media_type);  // OCI or docker v2 schema 2 manifest

} // namespace strata::store
