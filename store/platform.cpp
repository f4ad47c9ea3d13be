#include "store/platform.hpp"

#include "util/error.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <vector>

namespace strata::store {

namespace {

std::string member(const nlohmann::json& object, const char* key) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool suits(const nlohmann::json& entry, const Platform& wanted) {
    const auto platform = entry.find("platform");
    if (platform == entry.end() || !platform->is_object()) return false;
    if (member(*platform, "os") != wanted.os || member(*platform, "architecture") != wanted.architecture) return false;
    const std::string variant = member(*platform, "variant");
    return wanted.variant.empty() || variant.empty() || variant == wanted.variant;
}

} // namespace

std::string Platform::string() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }

Platform host_platform() {
    utsname u {};
    if (::uname(&u) != 0) throw_errno("uname");
    const std::string machine = u.machine;
    Platform p;
    if (machine == "x86_64") p.architecture = "amd64";
    else if (machine == "aarch64") p.architecture = "arm64";
    else if (machine.starts_with("armv")) p.architecture = "arm", p.variant = machine.substr(3, 2);  // armv7l: v7
    else if (machine == "i386" || machine == "i686") p.architecture = "386";
    else p.architecture = machine;
    return p;
}

Platform parse_platform(std::string_view text) {
    std::vector<std::string> parts;
    std::string_view rest = text;
    while (true) {
        const auto slash = rest.find('/');
        parts.emplace_back(rest.substr(0, slash));
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    const bool malformed = parts.size() > 3 || std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.empty(); });
    if (malformed) throw Error("invalid platform '" + std::string(text) + "': expected os/arch[/variant], as linux/arm64");
    Platform p;
    if (parts.size() == 1) {
        p.architecture = parts[0];
        return p;
    }
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) p.variant = parts[2];
    return p;
}

std::optional<Descriptor> platform_manifest(const nlohmann::json& index, const Platform& platform) {
    const auto manifests = index.find("manifests");
    if (manifests == index.end() || !manifests->is_array()) throw Error("the index has no manifests array");
    for (const auto& entry : *manifests)
        if (suits(entry, platform)) return descriptor_from_json(entry);
    if (manifests->size() == 1 && !(*manifests)[0].contains("platform")) return descriptor_from_json((*manifests)[0]);
    return std::nullopt;
}

bool is_index_media_type(std::string_view t) {
    return t == media::index || t == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool is_manifest_media_type(std::string_view t) {
    return t == media::manifest || t == "application/vnd.docker.distribution.manifest.v2+json";
}

} // namespace strata::store
