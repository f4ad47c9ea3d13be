#include "builder/copy.hpp"

#include "builder/paths.hpp"
#include "builder/walk.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::builder {

bool has_wildcard(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::string wildcard_base(const std::string& pattern) {
    std::string base;
    for (const auto& part : clean_relative(pattern)) {
        if (has_wildcard(part.string())) break;
        base = child_rel(base, part.string());
    }
    return base;
}

namespace {

// Expands the wildcard components of `rel` one by one, each match resolved in root.
// A `**` component stands for any number of real directories (symlinks are not followed,
// so a link loop cannot make it endless).
void expand_pattern(const fs::path& root, const std::vector<std::string>& parts, std::size_t index,
                    const std::string& prefix, std::vector<std::string>& out) {
    if (index == parts.size()) {
        out.push_back(prefix);
        return;
    }
    const std::string& part = parts[index];
    const auto join = [&](const std::string& name) { return prefix.empty() ? name : prefix + "/" + name; };
    if (!has_wildcard(part)) {
        expand_pattern(root, parts, index + 1, join(part), out);
        return;
    }
    const fs::path dir = resolve_in_root(root, prefix, true);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
    if (part == "**") {
        expand_pattern(root, parts, index + 1, prefix, out);
        for (const auto& name : sorted_dir_names(dir))
            if (is_real_dir(dir / name)) expand_pattern(root, parts, index, join(name), out);
        return;
    }
    for (const auto& name : sorted_dir_names(dir))
        if (::fnmatch(part.c_str(), name.c_str(), 0) == 0) expand_pattern(root, parts, index + 1, join(name), out);
}

void drop_repeats(std::vector<std::string>& items) {
    std::vector<std::string> seen;
    std::vector<std::string> kept;
    for (auto& item : items) {
        if (std::find(seen.begin(), seen.end(), item) != seen.end()) continue;
        seen.push_back(item);
        kept.push_back(std::move(item));
    }
    items = std::move(kept);
}

void set_times(const fs::path& path, const struct stat& st) {
    const struct timespec times[2] = {st.st_mtim, st.st_mtim};
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("utimensat", path.string());
}

void copy_file_data(const fs::path& source, const fs::path& target, const struct stat& st, const CopyAttributes& attrs) {
    Fd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in) throw_errno("open", source.string());
    ::unlink(target.c_str());  // a later source replaces an earlier one, as docker does
    Fd out(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) throw_errno("create", target.string());
    char buf[1 << 16];
    EarlyWriteback writeback;  // the layer's commit syncs this file
    while (const std::size_t n = read_some(in.get(), buf, sizeof buf, source.c_str())) {
        write_all(out.get(), buf, n, target.c_str());
        writeback.wrote(out.get(), n);
    }
    if (::fchown(out.get(), attrs.uid, attrs.gid) != 0) throw_errno("chown", target.string());
    if (::fchmod(out.get(), attrs.mode_for(st.st_mode, false)) != 0) throw_errno("chmod", target.string());
}

// A new directory with the given mode and owner and the times of `like`.
void make_dir_like(const fs::path& here, const struct stat& like, unsigned mode, unsigned uid, unsigned gid) {
    if (::mkdir(here.c_str(), 0700) != 0) throw_errno("mkdir", here.string());
    if (::chown(here.c_str(), uid, gid) != 0) throw_errno("chown", here.string());
    if (::chmod(here.c_str(), mode) != 0) throw_errno("chmod", here.string());
    set_times(here, like);
}

void ensure_dir(const fs::path& target, mode_t mode, const CopyAttributes& owner) {
    struct stat st {};
    if (::lstat(target.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return;
        if (::unlink(target.c_str()) != 0) throw_errno("unlink", target.string());
    }
    if (::mkdir(target.c_str(), 0700) != 0) throw_errno("mkdir", target.string());
    if (::chown(target.c_str(), owner.uid, owner.gid) != 0) throw_errno("chown", target.string());
    if (::chmod(target.c_str(), mode) != 0) throw_errno("chmod", target.string());
}

} // namespace

ContextFilter ContextFilter::with_excludes(const IgnoreMatcher& excludes, std::string base, std::string prefix) const {
    ContextFilter filter = *this;
    filter.excludes_ = &excludes;
    filter.base_ = std::move(base);
    filter.prefix_ = std::move(prefix);
    return filter;
}

bool ContextFilter::excluded(const std::string& path, bool is_dir) const {
    if (!excludes_ || excludes_->empty() || path.empty() || !excludes_->matches(path)) return false;
    return !is_dir || !excludes_->may_match_inside(path);
}

bool ContextFilter::skip(const std::string& rel, bool is_dir) const {
    if (matcher_ && !matcher_->empty() && !rel.empty() && matcher_->matches(rel) &&
        (!is_dir || !matcher_->may_match_inside(rel)))
        return true;
    if (!excludes_) return false;
    std::string below_base;
    if (base_.empty()) {
        below_base = rel;
    } else if (rel.size() > base_.size() && rel.starts_with(base_) && rel[base_.size()] == '/') {
        below_base = rel.substr(base_.size() + 1);
    } else {
        return false;  // the base itself, or a path outside it
    }
    return excluded(prefix_.empty() ? below_base : child_rel(prefix_, below_base), is_dir);
}

std::vector<CopySource> match_sources(const fs::path& root, const std::string& pattern, const ContextFilter& filter) {
    const std::string rel = clean_relative(pattern).string();
    std::vector<std::string> parts;
    for (const auto& p : fs::path(rel)) parts.push_back(p.string());
    std::vector<std::string> matches;
    expand_pattern(root, parts, 0, "", matches);
    drop_repeats(matches);

    std::vector<CopySource> sources;
    for (const auto& m : matches) {
        const std::string resolved = resolve_relative(root, m, true).string();
        const fs::path path = root / resolved;
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) continue;
            throw_errno("stat", path.string());
        }
        if (filter.skip(resolved, S_ISDIR(st.st_mode))) continue;
        sources.push_back({pattern, path, resolved, S_ISDIR(st.st_mode), m});
    }
    if (sources.empty())
        throw Error("no source files were specified: '" + pattern +
                    "' matches nothing in the source (or only what .dockerignore excludes)");
    return sources;
}

namespace {

void copy_tree(const fs::path& source, const fs::path& target, const std::string& rel, const ContextFilter& filter,
               const CopyAttributes& attrs) {
    // The top-level source may be reached through a symlink (already resolved in root);
    // everything below it is copied as it is, links included.
    const struct stat st = lstat_or_throw(source);
    if (S_ISDIR(st.st_mode)) {
        ensure_dir(target, attrs.mode_for(st.st_mode, true), attrs);
        for (const auto& name : sorted_dir_names(source)) {
            const std::string r = child_rel(rel, name);
            if (filter.skip(r, is_real_dir(source / name))) continue;
            copy_tree(source / name, target / name, r, filter, attrs);
        }
    } else if (S_ISREG(st.st_mode)) {
        copy_file_data(source, target, st, attrs);
    } else if (S_ISLNK(st.st_mode)) {
        ::unlink(target.c_str());
        if (::symlink(read_link(source).c_str(), target.c_str()) != 0) throw_errno("symlink", target.string());
        if (::lchown(target.c_str(), attrs.uid, attrs.gid) != 0) throw_errno("lchown", target.string());
    } else if (S_ISFIFO(st.st_mode)) {
        ::unlink(target.c_str());
        if (::mkfifo(target.c_str(), attrs.mode_for(st.st_mode, false)) != 0) throw_errno("mkfifo", target.string());
        if (::chown(target.c_str(), attrs.uid, attrs.gid) != 0) throw_errno("chown", target.string());
    } else {
        throw Error("copy '" + source.string() + "': unsupported file type (devices and sockets are not copied)");
    }
    set_times(target, st);
}

} // namespace

void copy_entry(const CopySource& source, const fs::path& target, const ContextFilter& filter,
                const CopyAttributes& attributes) {
    copy_tree(source.path, target, source.rel, filter, attributes);
}

void make_parent_dirs(const fs::path& snapshot, const fs::path& lower_view, const std::string& container_dir,
                      const CopyAttributes& owner) {
    fs::path here = snapshot;
    fs::path lower = lower_view;
    for (const auto& part : clean_relative(container_dir)) {
        here /= part;
        lower /= part;
        struct stat existing {};
        if (::lstat(here.c_str(), &existing) == 0) continue;
        struct stat st {};
        if (::stat(lower.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            make_dir_like(here, st, st.st_mode & 07777, st.st_uid, st.st_gid);
        } else {
            ensure_dir(here, 0755, owner);
        }
    }
}

void make_source_parent_dirs(const fs::path& snapshot, const fs::path& lower_view, const std::string& container_dir,
                             const std::string& parents, const fs::path& source_root, const std::string& source_base,
                             const CopyAttributes& attributes) {
    const fs::path dest_rel = clean_relative(container_dir);
    fs::path here = snapshot / dest_rel;
    fs::path lower = lower_view / dest_rel;
    std::string source_rel = clean_relative(source_base).string();
    for (const auto& part : clean_relative(parents)) {
        here /= part;
        lower /= part;
        source_rel = child_rel(source_rel, part.string());
        const fs::path source = resolve_in_root(source_root, source_rel, true);
        struct stat existing {};
        if (::lstat(here.c_str(), &existing) == 0) continue;
        struct stat st {};
        if (::stat(lower.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            make_dir_like(here, st, st.st_mode & 07777, st.st_uid, st.st_gid);
        } else if (::stat(source.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            make_dir_like(here, st, attributes.mode_for(st.st_mode, true), attributes.uid, attributes.gid);
        } else {
            ensure_dir(here, 0755, attributes);
        }
    }
}

void write_source_file(const fs::path& path, std::string_view content, unsigned mode, long long seconds) {
    Fd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) throw_errno("create", path.string());
    write_all(out.get(), content.data(), content.size(), path.c_str());
    if (::fchmod(out.get(), mode) != 0) throw_errno("chmod", path.string());
    set_mtime(path, seconds);
}

void set_mtime(const fs::path& path, long long seconds) {
    const struct timespec time {static_cast<time_t>(seconds), 0};
    const struct timespec times[2] = {time, time};
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("utimensat", path.string());
}

ModeChange ModeChange::parse(const std::string& text) {
    const auto bad = [&]() { return Error("invalid --chmod '" + text + "': expected octal (0755) or symbolic (u+x,go-w)"); };
    ModeChange change;
    if (text.empty()) throw bad();
    if (text.find_first_not_of("01234567") == std::string::npos) {
        if (text.size() > 4) throw bad();
        change.absolute_ = static_cast<unsigned>(std::stoul(text, nullptr, 8));
        return change;
    }
    std::size_t i = 0;
    while (i <= text.size()) {
        Clause clause;
        unsigned who = 0;
        for (; i < text.size() && std::string_view("ugoa").find(text[i]) != std::string_view::npos; ++i)
            who |= text[i] == 'u' ? 04700u : text[i] == 'g' ? 02070u : text[i] == 'o' ? 01007u : 07777u;
        clause.who = who ? who : 07777u;
        if (i >= text.size() || std::string_view("+-=").find(text[i]) == std::string_view::npos) throw bad();
        clause.op = text[i++];
        for (; i < text.size() && text[i] != ','; ++i) {
            switch (text[i]) {
            case 'r': clause.perms |= 0444; break;
            case 'w': clause.perms |= 0222; break;
            case 'x': clause.perms |= 0111; break;
            case 'X': clause.exec_if_dir_or_executable = true; break;
            case 's': clause.perms |= 06000; break;
            case 't': clause.perms |= 01000; break;
            default: throw bad();
            }
        }
        change.clauses_.push_back(clause);
        if (i == text.size()) break;
        ++i;  // the comma
        if (i == text.size()) throw bad();
    }
    return change;
}

unsigned ModeChange::apply(unsigned mode, bool is_dir) const {
    if (absolute_) return *absolute_;
    for (const auto& c : clauses_) {
        unsigned perms = c.perms;
        if (c.exec_if_dir_or_executable && (is_dir || (mode & 0111))) perms |= 0111;
        perms &= c.who;
        if (c.op == '+') mode |= perms;
        else if (c.op == '-') mode &= ~perms;
        else mode = (mode & ~c.who) | perms;
    }
    return mode & 07777;
}

} // namespace strata::builder
