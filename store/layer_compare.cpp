// Two layer tars read in step: each entry reduced to a list of named facts (header fields
// and a content digest), compared in order; the first fact that differs is the answer.
#include "store/layer_compare.hpp"

#include "store/internal.hpp"
#include "util/sha256.hpp"

#include <archive_entry.h>

#include <string_view>
#include <utility>
#include <vector>

namespace strata::store {

namespace {

// One entry as it is compared: facts in a fixed order, so that the first difference
// reported is the most telling one (a type change before the content that follows from it).
struct EntryFacts {
    std::string path;
    std::vector<std::pair<std::string, std::string>> facts;  // {name, value}
};

std::string time_of(bool set, long long secs, long nsecs) {
    if (!set) return "none";
    return nsecs ? std::to_string(secs) + "." + std::to_string(nsecs) : std::to_string(secs);
}

std::string text_or_empty(const char* s) { return s ? s : ""; }

std::vector<std::pair<std::string, std::string>> header_facts(archive_entry* e) {
    std::vector<std::pair<std::string, std::string>> f = {
        {"type", std::to_string(archive_entry_filetype(e))},
        {"mode", std::to_string(archive_entry_perm(e))},
        {"uid", std::to_string(archive_entry_uid(e))},
        {"gid", std::to_string(archive_entry_gid(e))},
        {"uname", text_or_empty(archive_entry_uname(e))},
        {"gname", text_or_empty(archive_entry_gname(e))},
        {"mtime", time_of(archive_entry_mtime_is_set(e), archive_entry_mtime(e), archive_entry_mtime_nsec(e))},
        {"atime", time_of(archive_entry_atime_is_set(e), archive_entry_atime(e), archive_entry_atime_nsec(e))},
        {"ctime", time_of(archive_entry_ctime_is_set(e), archive_entry_ctime(e), archive_entry_ctime_nsec(e))},
        {"size", std::to_string(archive_entry_size(e))},
        {"symlink target", text_or_empty(archive_entry_symlink(e))},
        {"hardlink target", text_or_empty(archive_entry_hardlink(e))},
        {"device", std::to_string(archive_entry_rdev(e))},
        {"sparse regions", std::to_string(archive_entry_sparse_count(e))},
    };
    std::string xattrs;
    archive_entry_xattr_reset(e);
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
        xattrs += std::string(name) + "=" + sha256_hex(std::string_view(static_cast<const char*>(value), size)) + ";";
    f.emplace_back("xattrs", xattrs);
    return f;
}

// A tar read entry by entry, each entry's data hashed as it streams past.
class TarFacts {
public:
    explicit TarFacts(const fs::path& blob) : blob_(blob), a_(archive_read_new()) {
        if (!a_) throw Error("archive_read_new failed");
        if (archive_read_support_filter_all(a_.get()) != ARCHIVE_OK || archive_read_support_format_tar(a_.get()) != ARCHIVE_OK ||
            archive_read_open_filename(a_.get(), blob.c_str(), 128 * 1024) != ARCHIVE_OK)
            throw Error("reading layer '" + blob.string() + "': " + detail::archive_message(a_.get()));
    }

    std::optional<EntryFacts> next() {
        archive_entry* e = nullptr;
        const int rc = archive_read_next_header(a_.get(), &e);
        if (rc == ARCHIVE_EOF) return std::nullopt;
        if (rc != ARCHIVE_OK) throw Error("reading layer '" + blob_.string() + "': " + detail::archive_message(a_.get()));
        EntryFacts out{archive_entry_pathname(e) ? archive_entry_pathname(e) : "", header_facts(e)};
        out.facts.emplace_back("content", content_digest());
        return out;
    }

private:
    std::string content_digest() {
        Sha256 hash;
        const void* block = nullptr;
        std::size_t size = 0;
        la_int64_t offset = 0;
        int rc;
        while ((rc = archive_read_data_block(a_.get(), &block, &size, &offset)) == ARCHIVE_OK) hash.update(block, size);
        if (rc != ARCHIVE_EOF) throw Error("reading layer '" + blob_.string() + "': " + detail::archive_message(a_.get()));
        return hash.hex();
    }

    fs::path blob_;
    detail::ArchiveReader a_;
};

std::optional<TarDifference> compare_entries(const EntryFacts& a, const EntryFacts& b) {
    if (a.path != b.path) return TarDifference{a.path, "the other build has '" + b.path + "' in its place"};
    for (std::size_t i = 0; i < a.facts.size(); ++i) {
        const auto& [name, value] = a.facts[i];
        const std::string& other = b.facts[i].second;
        if (value == other) continue;
        // Digests say nothing to a reader; the name of what differs does.
        if (name == "content" || name == "xattrs") return TarDifference{a.path, name};
        return TarDifference{a.path, name + " " + value + " vs " + other};
    }
    return std::nullopt;
}

} // namespace

std::optional<TarDifference> first_tar_difference(const fs::path& first, const fs::path& second) {
    TarFacts a(first), b(second);
    while (true) {
        const auto ea = a.next();
        const auto eb = b.next();
        if (!ea && !eb) break;
        if (!ea) return TarDifference{eb->path, "only in the second build"};
        if (!eb) return TarDifference{ea->path, "only in the first build"};
        if (auto d = compare_entries(*ea, *eb)) return d;
    }
    return std::nullopt;
}

} // namespace strata::store
