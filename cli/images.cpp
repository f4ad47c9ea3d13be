#include "cli/commands.hpp"
#include "store/store.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace strata::cli {

namespace {

// "hello:latest" -> {"hello", "latest"}; the tag is after the last ':' that follows the last '/'.
std::pair<std::string, std::string> split_tag(const std::string& name) {
    const auto slash = name.rfind('/');
    const auto colon = name.rfind(':');
    if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return {name, "<none>"};
    return {name.substr(0, colon), name.substr(colon + 1)};
}

long long parse_rfc3339(const std::string& s) {
    std::tm tm {};
    if (!::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
    return static_cast<long long>(::timegm(&tm));
}

std::string human_age(const std::string& created) {
    const long long then = parse_rfc3339(created);
    const long long now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const long long d = now - then;
    if (then == 0 || d < 0) return created.empty() ? "N/A" : created;
    if (d < 60) return "Less than a minute ago";
    if (d < 3600) return std::to_string(d / 60) + " minutes ago";
    if (d < 86400 * 2) return std::to_string(d / 3600) + " hours ago";
    if (d < 86400 * 60) return std::to_string(d / 86400) + " days ago";
    return std::to_string(d / (86400 * 30)) + " months ago";
}

void list_images(const GlobalOptions& global) {
    store::Store store(global.root);
    std::printf("%-30s %-12s %-14s %-24s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
    for (const auto& [name, descriptor] : store.tags()) {
        const store::Image image = store.load_image(descriptor);
        long long size = 0;
        for (const auto& layer : image.layers()) size += layer.size;
        const auto [repo, tag] = split_tag(name);
        const std::string id = descriptor.digest.substr(std::string("sha256:").size(), 12);
        const std::string created = image.config.value("created", "");
        std::printf("%-30s %-12s %-14s %-24s %s\n", repo.c_str(), tag.c_str(), id.c_str(), human_age(created).c_str(),
                    format_bytes(size).c_str());
    }
}

} // namespace

void add_images_command(CLI::App& app, GlobalOptions& global) {
    auto* cmd = app.add_subcommand("images", "List tagged images (ID = manifest digest; SIZE = compressed layers)");
    cmd->callback([&global] { list_images(global); });
}

} // namespace strata::cli
