#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <sys/stat.h>

namespace strata::store::test {

namespace {
struct ReadFree {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};
struct WriteFree {
    void operator()(archive* a) const noexcept { archive_write_free(a); }
};
struct EntryFree {
    void operator()(archive_entry* e) const noexcept { archive_entry_free(e); }
};
} // namespace

std::map<std::string, std::string> tree_listing(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
        const std::string rel = it->path().lexically_relative(dir).string();
        if (it->is_symlink())
            out[rel] = "-> " + fs::read_symlink(it->path()).string();
        else if (it->is_directory())
            out[rel] = "";
        else if (it->is_regular_file())
            out[rel] = read_file(it->path());
        else
            out[rel] = "?special";
    }
    return out;
}

std::vector<TarEntry> read_tar(const fs::path& file) {
    std::unique_ptr<archive, ReadFree> a(archive_read_new());
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), file.c_str(), 65536) != ARCHIVE_OK)
        throw Error("open tar: " + std::string(archive_error_string(a.get())));
    std::vector<TarEntry> out;
    archive_entry* e = nullptr;
    while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
        TarEntry t;
        t.path = archive_entry_pathname(e);
        t.type = archive_entry_filetype(e);
        t.perm = archive_entry_perm(e);
        t.uid = archive_entry_uid(e);
        t.gid = archive_entry_gid(e);
        t.uname = archive_entry_uname(e) ? archive_entry_uname(e) : "";
        t.gname = archive_entry_gname(e) ? archive_entry_gname(e) : "";
        t.mtime = archive_entry_mtime(e);
        t.atime_set = archive_entry_atime_is_set(e);
        t.ctime_set = archive_entry_ctime_is_set(e);
        t.symlink = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
        t.hardlink = archive_entry_hardlink(e) ? archive_entry_hardlink(e) : "";
        archive_entry_xattr_reset(e);
        const char* name;
        const void* value;
        size_t size;
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
            t.xattrs[name] = std::string(static_cast<const char*>(value), size);
        char buf[8192];
        la_ssize_t n;
        while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0) t.data.append(buf, static_cast<size_t>(n));
        out.push_back(std::move(t));
    }
    return out;
}

void write_tar(const fs::path& file, const std::vector<TarEntry>& entries, bool gzip) {
    std::unique_ptr<archive, WriteFree> a(archive_write_new());
    archive_write_set_format_pax_restricted(a.get());
    if (gzip) archive_write_add_filter_gzip(a.get());
    if (archive_write_open_filename(a.get(), file.c_str()) != ARCHIVE_OK) throw Error("open tar for writing");
    for (const auto& t : entries) {
        std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
        archive_entry_set_pathname(e.get(), t.path.c_str());
        archive_entry_set_filetype(e.get(), t.type);
        archive_entry_set_perm(e.get(), t.perm);
        archive_entry_set_mtime(e.get(), 1000, 0);
        if (!t.symlink.empty()) archive_entry_set_symlink(e.get(), t.symlink.c_str());
        if (!t.hardlink.empty()) archive_entry_set_hardlink(e.get(), t.hardlink.c_str());
        if (t.type == AE_IFREG && t.hardlink.empty()) archive_entry_set_size(e.get(), static_cast<la_int64_t>(t.data.size()));
        if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
            throw Error("write tar header: " + std::string(archive_error_string(a.get())));
        if (!t.data.empty()) archive_write_data(a.get(), t.data.data(), t.data.size());
    }
    archive_write_close(a.get());
}

std::string gunzip(const std::string& data) {
    z_stream z{};
    REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    std::string out;
    char buf[65536];
    int rc;
    do {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
        out.append(buf, sizeof buf - z.avail_out);
    } while (rc != Z_STREAM_END);
    inflateEnd(&z);
    return out;
}

fs::path conformance_dir() {
    const fs::path dir = STRATA_CONFORMANCE_DIR;
    if (!fs::is_directory(dir)) {
        WARN("conformance data not found at " << dir.string() << ": skipping");
        return {};
    }
    return dir;
}

} // namespace strata::store::test
