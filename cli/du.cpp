// strata du: what the store holds, as `docker system df` shows it: images, the blobs and
// snapshots under them, and what only the build cache keeps alive (what prune can free).
#include "builder/cache.hpp"
#include "cli/commands.hpp"
#include "store/gc.hpp"

#include <cstdio>

namespace strata::cli {

std::string format_bytes(long long bytes) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.3g%s", v, units[u]);
    return buf;
}

namespace {

std::string with_share(long long part, long long whole) {
    const long long percent = whole > 0 ? part * 100 / whole : 0;
    return format_bytes(part) + " (" + std::to_string(percent) + "%)";
}

void row(const char* type, std::size_t total, std::size_t active, long long size, long long reclaimable) {
    std::printf("%-14s %-8zu %-8zu %-10s %s\n", type, total, active, format_bytes(size).c_str(),
                with_share(reclaimable, size).c_str());
}

void show_usage(const GlobalOptions& global) {
    const store::Store store(global.root);
    const store::DiskUsage u = store::disk_usage(store, {builder::cache_records_namespace});
    std::printf("%-14s %-8s %-8s %-10s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
    row("Images", u.images, u.images, u.image_blobs.bytes + u.image_snapshots.bytes, 0);
    row("Layer blobs", u.blobs.count, u.image_blobs.count, u.blobs.bytes, u.cache_blobs.bytes + u.garbage_blobs.bytes);
    row("Snapshots", u.snapshots.count, u.image_snapshots.count, u.snapshots.bytes,
        u.cache_snapshots.bytes + u.garbage_snapshots.bytes);
    const long long cache = u.cache_blobs.bytes + u.cache_snapshots.bytes;
    row("Build cache", u.cache_records, u.cache_records_in_images, cache, cache);
    const long long garbage = u.garbage_blobs.bytes + u.garbage_snapshots.bytes;
    std::printf("\nBuild cache: %zu blobs and %zu snapshots only cache records keep (strata prune --cache --all frees them)\n",
                u.cache_blobs.count, u.cache_snapshots.count);
    std::printf("Unreferenced: %zu blobs and %zu snapshots, %s (any strata prune frees them)\n", u.garbage_blobs.count,
                u.garbage_snapshots.count, format_bytes(garbage).c_str());
}

} // namespace

void add_du_command(CLI::App& app, GlobalOptions& global) {
    auto* cmd = app.add_subcommand("du", "Show the store's disk usage: images, layers, snapshots and build cache");
    cmd->callback([&global] { show_usage(global); });
}

} // namespace strata::cli
