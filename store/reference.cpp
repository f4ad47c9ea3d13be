// Image references: docker's grammar (distribution/reference's regexps, written out as
// small scanners) and its normalisation (splitDockerDomain, familiarizeName).
#include "store/reference.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <fnmatch.h>

namespace strata::store {

namespace {

constexpr std::size_t max_name_length = 255;  // domain + "/" + path, as docker counts
constexpr std::size_t max_tag_length = 128;
constexpr std::string_view legacy_default_domain = "index.docker.io";
constexpr std::string_view official_prefix = "library/";

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
bool has_upper(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

[[noreturn]] void invalid(std::string_view text, const std::string& why) {
    throw Error("invalid reference format: '" + std::string(text) + "': " + why);
}

// component := [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool is_path_component(std::string_view s) {
    std::size_t i = 0;
    const auto alnum_run = [&] {
        const std::size_t start = i;
        while (i < s.size() && is_lower_alnum(s[i])) ++i;
        return i > start;
    };
    if (!alnum_run()) return false;
    while (i < s.size()) {
        if (s[i] == '.') ++i;
        else if (s[i] == '_') i += (i + 1 < s.size() && s[i + 1] == '_') ? 2 : 1;
        else if (s[i] == '-') while (i < s.size() && s[i] == '-') ++i;
        else return false;
        if (!alnum_run()) return false;
    }
    return true;
}

bool is_path(std::string_view s) {
    while (true) {
        const auto slash = s.find('/');
        if (!is_path_component(s.substr(0, slash))) return false;
        if (slash == std::string_view::npos) return true;
        s.remove_prefix(slash + 1);
    }
}

// domain-component := [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
bool is_domain_component(std::string_view s) {
    return !s.empty() && is_alnum(s.front()) && is_alnum(s.back()) &&
           std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// host[:port], host a dotted name or a bracketed IPv6 address.
bool is_domain(std::string_view s) {
    std::string_view host = s;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        const auto inner = s.substr(1, close - 1);
        if (!std::all_of(inner.begin(), inner.end(), [](char c) { return is_digit(c) || c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }))
            return false;
        host = {};
        s.remove_prefix(close + 1);
    } else {
        const auto colon = s.find(':');
        host = s.substr(0, colon);
        s = colon == std::string_view::npos ? std::string_view{} : s.substr(colon);
        while (true) {
            const auto dot = host.find('.');
            if (!is_domain_component(host.substr(0, dot))) return false;
            if (dot == std::string_view::npos) break;
            host.remove_prefix(dot + 1);
        }
    }
    if (s.empty()) return true;
    if (s.front() != ':' || s.size() == 1) return false;
    return std::all_of(s.begin() + 1, s.end(), is_digit);
}

bool is_tag(std::string_view s) {
    return !s.empty() && s.size() <= max_tag_length && is_word(s.front()) &&
           std::all_of(s.begin(), s.end(), [](char c) { return is_word(c) || c == '.' || c == '-'; });
}

// The digest algorithms docker accepts, each with the length of its hex encoding.
void check_digest(std::string_view text, std::string_view digest) {
    const auto colon = digest.find(':');
    if (colon == std::string_view::npos || colon == 0) invalid(text, "digest '" + std::string(digest) + "' is not ALGORITHM:HEX");
    const std::string_view algorithm = digest.substr(0, colon), hex = digest.substr(colon + 1);
    std::size_t length = 0;
    if (algorithm == "sha256") length = 64;
    else if (algorithm == "sha384") length = 96;
    else if (algorithm == "sha512") length = 128;
    else invalid(text, "unsupported digest algorithm '" + std::string(algorithm) + "'");
    if (hex.size() != length || !std::all_of(hex.begin(), hex.end(), is_lower_hex))
        invalid(text, std::string(algorithm) + " digest needs " + std::to_string(length) + " lowercase hex digits");
}

// docker's splitDockerDomain: the first component is a domain only if it looks like one.
std::pair<std::string, std::string> split_domain(std::string_view name) {
    const auto slash = name.find('/');
    std::string domain, rest;
    if (slash == std::string_view::npos) {
        domain = default_domain;
        rest = name;
    } else {
        const std::string_view first = name.substr(0, slash);
        const bool looks_like_domain = first.find_first_of(".:") != std::string_view::npos ||
                                       first == "localhost" || has_upper(first);
        domain = looks_like_domain ? std::string(first) : std::string(default_domain);
        rest = looks_like_domain ? name.substr(slash + 1) : name;
    }
    if (domain == legacy_default_domain) domain = default_domain;
    if (domain == default_domain && rest.find('/') == std::string::npos) rest = std::string(official_prefix) + rest;
    return {domain, rest};
}

} // namespace

std::string Reference::name() const { return domain + "/" + path; }

std::string Reference::familiar_name() const {
    if (domain != default_domain) return name();
    const std::string_view p = path;
    if (p.starts_with(official_prefix) && p.substr(official_prefix.size()).find('/') == std::string_view::npos)
        return std::string(p.substr(official_prefix.size()));
    return path;
}

static std::string with_tag_and_digest(std::string name, const Reference& r) {
    if (!r.tag.empty()) name += ":" + r.tag;
    if (!r.digest.empty()) name += "@" + r.digest;
    return name;
}

std::string Reference::string() const { return with_tag_and_digest(name(), *this); }
std::string Reference::familiar_string() const { return with_tag_and_digest(familiar_name(), *this); }

bool is_image_id(std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), is_lower_hex);
}

Reference parse_reference(std::string_view text) {
    if (text.empty()) throw Error("invalid reference format: repository name must have at least one component");
    if (is_image_id(text))
        throw Error("invalid repository name (" + std::string(text) + "), cannot specify 64-byte hexadecimal strings");
    Reference ref;
    std::string_view named = text;
    if (const auto at = text.find('@'); at != std::string_view::npos) {
        ref.digest = text.substr(at + 1);
        named = text.substr(0, at);
        check_digest(text, ref.digest);
    }
    if (named.empty()) invalid(text, "no repository name");
    auto [domain, rest] = split_domain(named);
    // Only the path is left in `rest`, and a path holds no ':': the first one starts the tag.
    if (const auto colon = rest.find(':'); colon != std::string::npos) {
        ref.tag = rest.substr(colon + 1);
        rest.resize(colon);
        if (!is_tag(ref.tag))
            invalid(text, "tag '" + ref.tag + "' must be 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
    }
    if (has_upper(rest))
        throw Error("invalid reference format: repository name (" + rest + ") must be lowercase");
    if (!is_domain(domain)) invalid(text, "'" + domain + "' is not a registry host[:port]");
    if (!is_path(rest))
        invalid(text, "repository name components are [a-z0-9] words joined by '.', '_', '__' or dashes, separated by '/'");
    ref.domain = std::move(domain);
    ref.path = std::move(rest);
    if (ref.name().size() > max_name_length)
        invalid(text, "repository name must not be more than " + std::to_string(max_name_length) + " characters");
    return ref;
}

Reference with_default_tag(Reference reference) {
    if (reference.tag.empty() && reference.digest.empty()) reference.tag = default_tag;
    return reference;
}

std::string normalize_tag(std::string_view name) { return with_default_tag(parse_reference(name)).familiar_string(); }

bool reference_matches(const Reference& reference, std::string_view pattern) {
    const std::string p(pattern);
    return ::fnmatch(p.c_str(), reference.familiar_string().c_str(), FNM_PATHNAME) == 0 ||
           ::fnmatch(p.c_str(), reference.familiar_name().c_str(), FNM_PATHNAME) == 0;
}

} // namespace strata::store
