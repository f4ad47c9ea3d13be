// Content digests of COPY sources for cache keys: names, types, permission bits, contents
// and link targets; never mtimes, owners or absolute paths, so clones elsewhere share them.
#include "builder/copy.hpp"
#include "builder/walk.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <fcntl.h>
#include <sys/stat.h>

namespace strata::builder {

namespace {

// `label` names entries in the digest relative to the source; `rel` is relative to the
// root, for the filter.
void hash_tree(Sha256& h, const fs::path& path, const std::string& label, const std::string& rel,
               const ContextFilter& filter) {
    const struct stat st = lstat_or_throw(path);
    const auto header = [&](char type) {
        h.update(label);
        const std::string meta = std::string(1, '\0') + type + std::to_string(st.st_mode & 07777) + '\0';
        h.update(meta);
    };
    if (S_ISDIR(st.st_mode)) {
        header('d');
        h.update("\n");
        for (const auto& name : sorted_names(path)) {
            const std::string r = child_rel(rel, name);
            if (filter.skip(r, is_real_dir(path / name))) continue;
            hash_tree(h, path / name, label + "/" + name, r, filter);
        }
    } else if (S_ISLNK(st.st_mode)) {
        header('l');
        h.update(read_link(path));
        h.update("\n");
    } else if (S_ISREG(st.st_mode)) {
        header('f');
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!fd) throw_errno("open", path.string());
        Sha256 content;
        char buf[65536];
        while (const std::size_t n = read_some(fd.get(), buf, sizeof buf, path.c_str())) content.update(buf, n);
        h.update(content.hex());
        h.update("\n");
    } else {
        header('o');
        h.update(std::to_string(st.st_rdev));
        h.update("\n");
    }
}

} // namespace

std::string hash_source(const CopySource& source, const ContextFilter& filter) {
    Sha256 h;
    hash_tree(h, source.path, ".", source.rel, filter);
    return h.digest();
}


} // namespace strata::builder
