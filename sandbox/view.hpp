#pragma once
// Read-only merged views of layer directories for the builder's own use (COPY reads the
// files of a stage, and the attributes of the directories it writes into). Mounted in
// strata's private mount namespace, so the kernel removes them even if strata is killed.
#include "sandbox/sandbox.hpp"

#include <filesystem>
#include <optional>
#include <vector>

namespace strata::sandbox {

// unshare(CLONE_NEWNS) and make every mount private, so that mounts made from now on are
// invisible to the host and vanish with the process. Must run before any thread starts.
void enter_private_mount_namespace();

class ReadOnlyView {
public:
    // lower_dirs topmost first; mountpoint: an empty directory owned by the caller.
    // Zero layers: the (empty) mountpoint itself; one layer: that directory, unmounted;
    // more: a read-only overlay mounted on mountpoint. With `userns`, the files show the
    // owners a container with that mapping gives them on the host (an idmapped mount even
    // of a single layer): copies made from the view are that container's own.
    ReadOnlyView(const std::vector<std::filesystem::path>& lower_dirs, const std::filesystem::path& mountpoint,
                 const std::optional<IdMapping>& userns = std::nullopt);
    ReadOnlyView(const ReadOnlyView&) = delete;
    ReadOnlyView& operator=(const ReadOnlyView&) = delete;
    ~ReadOnlyView();

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
    bool mounted_ = false;
};

// A writable view of a directory whose writes are thrown away (RUN --mount=type=bind,rw):
// an overlay with `lower` as its only layer and its upper and work directories in
// `scratch`, an empty directory on a filesystem overlay accepts as upper.
class ThrowawayView {
public:
    ThrowawayView(const std::filesystem::path& lower, const std::filesystem::path& scratch);
    ThrowawayView(const ThrowawayView&) = delete;
    ThrowawayView& operator=(const ThrowawayView&) = delete;
    ~ThrowawayView();

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

// A tmpfs (0700, not noexec) on `mountpoint`, an empty directory owned by the caller, for
// files that must never touch a disk: secrets on their way into a container, and scripts.
class PrivateTmpfs {
public:
    explicit PrivateTmpfs(const std::filesystem::path& mountpoint);
    PrivateTmpfs(const PrivateTmpfs&) = delete;
    PrivateTmpfs& operator=(const PrivateTmpfs&) = delete;
    ~PrivateTmpfs();

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

} // namespace strata::sandbox
