#pragma once
// The parent's half of Spec::mounts: each source opened as a detached mount (open_tree for a
// bind, fsopen for a tmpfs) while the parent can still throw, a stub for each target in the
// sandbox's own bottom lowerdir so that the overlay's upper dir never holds one, and the
// plain arrays the child walks without allocating.
#include "sandbox/child.hpp"
#include "sandbox/sandbox.hpp"
#include "util/fd.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace strata::sandbox {

class PreparedMounts {
public:
    // stub_root: the bottom lowerdir (StateLayout::mountpoints). Throws naming the mount
    // ("mount bind '/src' on '/dst': ...") when a source cannot be opened.
    PreparedMounts(const std::vector<Mount>& mounts, const std::filesystem::path& stub_root);
    PreparedMounts(const PreparedMounts&) = delete;
    PreparedMounts& operator=(const PreparedMounts&) = delete;

    const ChildMount* data() const noexcept { return plan_.data(); }
    std::size_t size() const noexcept { return plan_.size(); }
    // The detached mounts' fds, which the child must keep open.
    std::vector<int> fds() const;
    // The parent's copies go once the child has its own: the mounts then live only as long
    // as the child's namespace holds them.
    void close_fds() noexcept { trees_.clear(); }

private:
    struct Entry {
        std::string target;
        std::vector<std::string> parents;
        std::vector<const char*> parent_pointers;
    };
    std::vector<Fd> trees_;
    std::vector<Entry> entries_;
    std::vector<ChildMount> plan_;
};

// "/a/../b/" -> "/b"; "x" -> "/x". Exposed for tests.
std::string clean_container_path(const std::string& path);

} // namespace strata::sandbox
