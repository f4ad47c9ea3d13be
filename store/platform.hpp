#pragma once
// Platforms as `--platform` writes them ("linux/arm64/v8") and the choice of one image
// from a multi-platform index (OCI image index or docker manifest list), as containerd's
// platform matcher makes it: what load, pull and `load_image` of an index share.
#include "store/oci.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace strata::store {

struct Platform {
    std::string os;
    std::string architecture;  // GOARCH words: amd64, arm64, arm, 386, ...
    std::string variant;       // "" when none
    std::string string() const;  // "linux/arm/v7"
    bool operator==(const Platform&) const = default;
};

// "os/arch[/variant]", normalised as containerd does ("aarch64" -> arm64, "x86_64" -> amd64,
// arm64's "v8" is no variant). Throws for anything else.
Platform parse_platform(std::string_view text);
Platform normalised(Platform platform);

// This machine: linux on uname's architecture (with arm's variant).
Platform host_platform();

// The manifest for `wanted` in an index document: os and architecture equal, and the
// variant equal when `wanted` names one (else the first of that architecture); or the
// index's only entry when it names no platform. None: the index has no such image.
std::optional<Descriptor> platform_manifest(const nlohmann::json& index, const Platform& wanted);
// The same, throwing a message that lists the platforms the index has when none fits.
Descriptor select_platform(const nlohmann::json& index, const Platform& wanted);

bool is_index_media_type(std::string_view media_type);     // OCI index or docker manifest list
bool is_manifest_media_type(std::string_view media_type);  // OCI or docker v2 schema 2 manifest

} // namespace strata::store
