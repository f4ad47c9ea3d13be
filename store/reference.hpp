#pragma once
// Image references as docker reads them (distribution/reference): the grammar, docker's
// normalisation ("alpine" is docker.io/library/alpine, "user/x" docker.io/user/x) and the
// familiar form docker shows ("alpine:latest", never docker.io/library/alpine:latest).
//
//   reference := name [":" tag] ["@" digest]
//   name      := [domain "/"] path           domain: host[:port], a first component with a
//                                             '.' or ':', "localhost", or an uppercase letter
//   path      := component ("/" component)*  component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
//   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest    := sha256:<64 hex> | sha384:<96 hex> | sha512:<128 hex> (lowercase)
#include <string>
#include <string_view>

namespace strata::store {

inline constexpr const char* default_domain = "docker.io";
inline constexpr const char* default_tag = "latest";

struct Reference {
    std::string domain;  // "docker.io", "reg:5000", "localhost", "[::1]:5000"
    std::string path;    // "library/alpine", "user/x"
    std::string tag;     // "" when none was given
    std::string digest;  // "" when none was given, else "<algorithm>:<hex>"

    std::string name() const;           // "docker.io/library/alpine"
    std::string familiar_name() const;  // "alpine" (docker.io and library/ dropped)
    std::string string() const;         // "docker.io/library/alpine:latest@sha256:..."
    std::string familiar_string() const;  // "alpine:latest@sha256:..."
    bool operator==(const Reference&) const = default;
};

// Parses and normalises a reference as docker's ParseNormalizedNamed does. Throws
// strata::Error "invalid reference format: ..." saying what is wrong.
Reference parse_reference(std::string_view text);

// Adds the tag "latest" when neither a tag nor a digest is given (docker's TagNameOnly).
Reference with_default_tag(Reference reference);

// The familiar "name:tag" of what the user typed, ":latest" added when no tag or digest
// is given: "hello" -> "hello:latest", "docker.io/library/x:1" -> "x:1". Throws as parse_reference.
std::string normalize_tag(std::string_view name);

// 64 lowercase hex digits: docker reads this as an image id, never as a name.
bool is_image_id(std::string_view text);

// docker's `--filter reference=PATTERN`: a shell pattern ('*' stops at '/') matched against
// the familiar "name:tag", or against the familiar name alone.
bool reference_matches(const Reference& reference, std::string_view pattern);

} // namespace strata::store
