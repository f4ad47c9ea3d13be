#include "sandbox/view.hpp"

#include "sandbox/overlay.hpp"
#include "sandbox/userns.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <fcntl.h>
#include <sched.h>
#include <string>
#include <sys/mount.h>

namespace strata::sandbox {

void enter_private_mount_namespace() {
    if (::unshare(CLONE_NEWNS) != 0) throw_errno("unshare", "mount namespace");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) throw_errno("make mounts private", "/");
}

namespace {

void attach(const Fd& tree, const std::filesystem::path& mountpoint, const char* what) {
    if (::move_mount(tree.get(), "", AT_FDCWD, mountpoint.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
        throw_errno(std::string("move_mount ") + what, mountpoint.string());
}

} // namespace

ReadOnlyView::ReadOnlyView(const std::vector<std::filesystem::path>& lower_dirs, const std::filesystem::path& mountpoint,
                           const std::optional<IdMapping>& userns) {
    if (userns && !lower_dirs.empty()) {
        const Fd ns = make_user_namespace(*userns);
        // Overlay wants two layers when it has no upper; one layer is its idmapped mount alone.
        if (lower_dirs.size() == 1) {
            attach(idmapped_tree(lower_dirs.front(), ns.get()), mountpoint, "idmapped layer");
        } else {
            attach(prepare_overlay(lower_dirs, {}, {}, mountpoint, ns.get()).mount_fd, mountpoint, "overlay");
        }
        if (::mount(nullptr, mountpoint.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
            throw_errno("remount read-only", mountpoint.string());
        path_ = mountpoint;
        mounted_ = true;
        return;
    }
    if (lower_dirs.size() <= 1) {
        path_ = lower_dirs.empty() ? mountpoint : lower_dirs.front();
        return;
    }
    // Overlay without an upper directory is read-only. With the new mount API each layer
    // is one `lowerdir+` call, so a chain of any depth mounts; the legacy option string is
    // limited to a page (about 30 layers of store paths), so it is only the fallback.
    OverlayMount overlay = prepare_overlay(lower_dirs, {}, {}, mountpoint);
    if (overlay.mount_fd) {
        attach(overlay.mount_fd, mountpoint, "overlay");
    } else {
        std::string options = "lowerdir=";
        for (std::size_t i = 0; i < lower_dirs.size(); ++i) {
            if (i) options += ':';
            options += lower_dirs[i].string();
        }
        options += ",redirect_dir=off,metacopy=off,index=off";
        if (::mount("overlay", mountpoint.c_str(), "overlay", MS_RDONLY, options.c_str()) != 0)
            throw_errno("mount overlay", mountpoint.string());
    }
    path_ = mountpoint;
    mounted_ = true;
}

ReadOnlyView::~ReadOnlyView() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
}

ThrowawayView::ThrowawayView(const std::filesystem::path& lower, const std::filesystem::path& scratch)
    : path_(scratch / "merged") {
    for (const char* dir : {"upper", "work", "merged"}) make_dirs(scratch / dir);
    const std::string options =
        legacy_overlay_options({lower.string()}, (scratch / "upper").string(), (scratch / "work").string());
    if (::mount("overlay", path_.c_str(), "overlay", 0, options.c_str()) != 0) throw_errno("mount overlay", path_.string());
}

ThrowawayView::~ThrowawayView() { ::umount2(path_.c_str(), MNT_DETACH); }

PrivateTmpfs::PrivateTmpfs(const std::filesystem::path& mountpoint) : path_(mountpoint) {
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") != 0)
        throw_errno("mount tmpfs", path_.string());
}

PrivateTmpfs::~PrivateTmpfs() { ::umount2(path_.c_str(), MNT_DETACH); }

} // namespace strata::sandbox
