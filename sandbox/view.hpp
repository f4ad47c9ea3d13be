#pragma once
// Read-only merged views of layer directories for the builder's own use (COPY reads the
// files of a stage, and the attributes of the directories it writes into). Mounted in
// strata's private mount namespace, so the kernel removes them even if strata is killed.
#include <filesystem>
#include <vector>

namespace strata::sandbox {

// unshare(CLONE_NEWNS) and make every mount private, so that mounts made from now on are
// invisible to the host and vanish with the process. Must run before any thread starts.
void enter_private_mount_namespace();

class ReadOnlyView {
public:
    // lower_dirs topmost first; mountpoint: an empty directory owned by the caller.
    // Zero layers: the (empty) mountpoint itself; one layer: that directory, unmounted;
    // more: a read-only overlay mounted on mountpoint.
    ReadOnlyView(const std::vector<std::filesystem::path>& lower_dirs, const std::filesystem::path& mountpoint);
    ReadOnlyView(const ReadOnlyView&) = delete;
    ReadOnlyView& operator=(const ReadOnlyView&) = delete;
    ~ReadOnlyView();

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
    bool mounted_ = false;
};

} // namespace strata::sandbox
