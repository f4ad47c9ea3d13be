// strata diff: two sorted directory walks merged, one step per name.
#include "builder/image_diff.hpp"

#include "builder/walk.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace strata::builder {

namespace {

using ordered_json = nlohmann::ordered_json;  // keys in the order written: change and path first

constexpr std::size_t chunk_size = 128 * 1024;

std::string type_name(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "directory";
    case S_IFLNK: return "symlink";
    case S_IFIFO: return "fifo";
    case S_IFCHR: return "char-device";
    case S_IFBLK: return "block-device";
    case S_IFSOCK: return "socket";
    default: return "unknown";
    }
}

FileInfo file_info(const fs::path& path, const struct stat& st) {
    FileInfo info;
    info.type = type_name(st.st_mode);
    info.mode = st.st_mode & 07777;
    info.uid = st.st_uid;
    info.gid = st.st_gid;
    if (S_ISREG(st.st_mode)) info.size = st.st_size;
    if (S_ISLNK(st.st_mode)) info.target = read_link(path);
    return info;
}

// The xattrs a layer carries (the layer writer keeps only these); overlay's own are hidden.
std::map<std::string, std::string> portable_xattrs(const fs::path& path) {
    std::map<std::string, std::string> out;
    for (const auto& name : xattr_names(path)) {
        if (name != "security.capability" && !name.starts_with("user.")) continue;
        if (auto value = get_xattr(path, name)) out.emplace(name, std::move(*value));
    }
    return out;
}

// Fills `buffer` from fd unless the file ends first; returns the bytes read.
std::size_t read_chunk(int fd, std::vector<char>& buffer, const char* what) {
    std::size_t filled = 0;
    while (filled < buffer.size()) {
        const std::size_t n = read_some(fd, buffer.data() + filled, buffer.size() - filled, what);
        if (n == 0) break;
        filled += n;
    }
    return filled;
}

Fd open_file(const fs::path& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw_errno("open", path.string());
    return fd;
}

class TreeDiff {
public:
    TreeDiff(fs::path before, fs::path after)
        : before_(std::move(before)), after_(std::move(after)), a_(chunk_size), b_(chunk_size) {}

    std::vector<Change> run() {
        walk("");
        std::sort(changes_.begin(), changes_.end(), [](const Change& x, const Change& y) { return x.path < y.path; });
        return std::move(changes_);
    }

private:
    // Both sides are directories at rel: merge their sorted listings.
    void walk(const std::string& rel) {
        const auto old_names = sorted_dir_names(before_ / rel);
        const auto new_names = sorted_dir_names(after_ / rel);
        std::size_t i = 0, j = 0;
        while (i < old_names.size() || j < new_names.size()) {
            if (j == new_names.size() || (i < old_names.size() && old_names[i] < new_names[j])) {
                listed('D', before_, child_rel(rel, old_names[i++]));
            } else if (i == old_names.size() || new_names[j] < old_names[i]) {
                listed('A', after_, child_rel(rel, new_names[j++]));
            } else {
                on_both_sides(child_rel(rel, old_names[i]));
                ++i, ++j;
            }
        }
    }

    // An added or deleted entry, and everything below it.
    void listed(char kind, const fs::path& root, const std::string& rel) {
        const fs::path path = root / rel;
        const struct stat st = lstat_or_throw(path);
        Change change;
        change.kind = kind;
        change.path = "/" + rel;
        (kind == 'A' ? change.after : change.before) = file_info(path, st);
        changes_.push_back(std::move(change));
        if (S_ISDIR(st.st_mode))
            for (const auto& name : sorted_dir_names(path)) listed(kind, root, child_rel(rel, name));
    }

    void on_both_sides(const std::string& rel) {
        const fs::path old_path = before_ / rel;
        const fs::path new_path = after_ / rel;
        const struct stat old_st = lstat_or_throw(old_path);
        const struct stat new_st = lstat_or_throw(new_path);
        Change change;
        change.path = "/" + rel;
        change.before = file_info(old_path, old_st);
        change.after = file_info(new_path, new_st);
        change.changed = differences(old_path, new_path, old_st, new_st, change.before, change.after);
        if (!change.changed.empty()) changes_.push_back(std::move(change));
        const bool old_dir = S_ISDIR(old_st.st_mode);
        const bool new_dir = S_ISDIR(new_st.st_mode);
        if (old_dir && new_dir) return walk(rel);
        if (old_dir) for (const auto& name : sorted_dir_names(old_path)) listed('D', before_, child_rel(rel, name));
        if (new_dir) for (const auto& name : sorted_dir_names(new_path)) listed('A', after_, child_rel(rel, name));
    }

    std::vector<std::string> differences(const fs::path& old_path, const fs::path& new_path, const struct stat& old_st,
                                         const struct stat& new_st, const FileInfo& before, const FileInfo& after) {
        if (before.type != after.type) return {"type"};
        std::vector<std::string> out;
        if (before.mode != after.mode) out.emplace_back("mode");
        if (before.uid != after.uid || before.gid != after.gid) out.emplace_back("owner");
        if (before.size != after.size) out.emplace_back("size");
        if (before.target != after.target) out.emplace_back("target");
        if ((S_ISCHR(old_st.st_mode) || S_ISBLK(old_st.st_mode)) && old_st.st_rdev != new_st.st_rdev) out.emplace_back("device");
        if (portable_xattrs(old_path) != portable_xattrs(new_path)) out.emplace_back("xattrs");
        if (S_ISREG(old_st.st_mode) && before.size == after.size && !same_inode(old_st, new_st) &&
            !same_content(old_path, new_path))
            out.emplace_back("content");
        return out;
    }

    // Both views' files are on the store's one filesystem, where overlay reports a lower
    // file's own inode number: equal numbers are one file, shared by both images.
    static bool same_inode(const struct stat& a, const struct stat& b) {
        return a.st_ino == b.st_ino && a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
               a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
               a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
    }

    // Byte for byte, in bounded chunks; stops at the first difference.
    bool same_content(const fs::path& old_path, const fs::path& new_path) {
        const Fd a = open_file(old_path);
        const Fd b = open_file(new_path);
        for (;;) {
            const std::size_t n = read_chunk(a.get(), a_, old_path.c_str());
            const std::size_t m = read_chunk(b.get(), b_, new_path.c_str());
            if (n != m || std::memcmp(a_.data(), b_.data(), n) != 0) return false;
            if (n < a_.size()) return true;
        }
    }

    fs::path before_, after_;
    std::vector<char> a_, b_;
    std::vector<Change> changes_;
};

std::vector<Change> diff_layer_stacks(store::Store& store, const std::vector<fs::path>& before_bottom_first,
                                      const std::vector<fs::path>& after_bottom_first) {
    const TempDir scratch(store.tmp_dir(), "diff-");
    make_dirs(scratch.path() / "before");
    make_dirs(scratch.path() / "after");
    const std::vector<fs::path> before_layers(before_bottom_first.rbegin(), before_bottom_first.rend());
    const std::vector<fs::path> after_layers(after_bottom_first.rbegin(), after_bottom_first.rend());
    const sandbox::ReadOnlyView before(before_layers, scratch.path() / "before");
    const sandbox::ReadOnlyView after(after_layers, scratch.path() / "after");
    return diff_trees(before.path(), after.path());
}

std::string plural_bytes(long long n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

std::string describe(const FileInfo& info) {
    if (info.type == "file") return plural_bytes(info.size);
    if (info.type == "symlink") return "symlink to " + info.target;
    std::string text = info.type;
    std::replace(text.begin(), text.end(), '-', ' ');
    return text;
}

std::string octal_mode(unsigned mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", mode & 07777);
    return text;
}

std::string owner(const FileInfo& info) { return std::to_string(info.uid) + ":" + std::to_string(info.gid); }

bool has(const std::vector<std::string>& list, const char* item) { return std::find(list.begin(), list.end(), item) != list.end(); }

// "82 -> 91 bytes", "82 bytes", "symlink to a -> symlink to b", "directory -> 3 bytes".
std::string what_it_is(const Change& c) {
    if (c.before.type == "file" && c.after.type == "file")
        return c.before.size == c.after.size ? plural_bytes(c.after.size)
                                             : std::to_string(c.before.size) + " -> " + plural_bytes(c.after.size);
    const std::string before = describe(c.before), after = describe(c.after);
    return before == after ? after : before + " -> " + after;
}

ordered_json info_json(const FileInfo& info) {
    ordered_json out = {{"type", info.type}, {"mode", octal_mode(info.mode)}, {"uid", info.uid}, {"gid", info.gid}};
    if (info.type == "file") out["size"] = info.size;
    if (info.type == "symlink") out["target"] = info.target;
    return out;
}

} // namespace

std::vector<Change> diff_trees(const fs::path& before, const fs::path& after) { return TreeDiff(before, after).run(); }

std::vector<Change> diff_images(store::Store& store, const store::Image& before, const store::Image& after) {
    const auto before_layers = store.ensure_snapshots(before);
    const auto after_layers = store.ensure_snapshots(after);
    return diff_layer_stacks(store, before_layers, after_layers);
}

std::vector<Change> diff_with_base(store::Store& store, const store::Image& image) {
    const auto layers = store.ensure_snapshots(image);
    if (layers.empty()) throw Error("the image has no layers: there is no base to compare it with");
    const std::vector<fs::path> base(layers.begin(), layers.end() - 1);
    return diff_layer_stacks(store, base, layers);
}

std::string format_change(const Change& change) {
    if (change.kind != 'C') return std::string(1, change.kind) + " " + change.path + " (" +
                                   describe(change.kind == 'A' ? change.after : change.before) + ")";
    std::string details;
    const auto add = [&details](const std::string& text) { details += (details.empty() ? "; " : ", ") + text; };
    if (has(change.changed, "mode")) add("mode " + octal_mode(change.before.mode) + " -> " + octal_mode(change.after.mode));
    if (has(change.changed, "owner")) add("owner " + owner(change.before) + " -> " + owner(change.after));
    for (const char* other : {"device", "xattrs", "content"})
        if (has(change.changed, other)) add(other);
    return "C " + change.path + " (" + what_it_is(change) + details + ")";
}

ordered_json changes_json(const std::vector<Change>& changes) {
    ordered_json list = ordered_json::array();
    for (const auto& c : changes) {
        ordered_json entry = {{"change", std::string(1, c.kind)}, {"path", c.path}};
        if (c.kind != 'A') entry["before"] = info_json(c.before);
        if (c.kind != 'D') entry["after"] = info_json(c.after);
        if (c.kind == 'C') entry["changed"] = c.changed;
        list.push_back(std::move(entry));
    }
    return {{"changes", list}};
}

} // namespace strata::builder
