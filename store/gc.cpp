// Reachability over the store (index.json manifests and records' "refs"), disk usage, and
// pruning: records first, then the objects nothing reaches any more, so that a crash in
// between leaves garbage, never a record pointing at a missing object.
#include "store/gc.hpp"

#include "store/containers.hpp"
#include "store/internal.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace strata::store {

namespace {

// A namespace, key or area becomes one path component: it must not name a directory or escape.
void check_name(std::string_view what, std::string_view name) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
        name.find('\0') != std::string_view::npos)
        throw Error("invalid " + std::string(what) + " '" + std::string(name) + "'");
}

fs::path records_dir(const Store& store, std::string_view ns) {
    check_name("record namespace", ns);
    return store.root() / "records" / std::string(ns);
}

fs::path record_path(const Store& store, std::string_view ns, std::string_view key) {
    check_name("record key", key);
    return records_dir(store, ns) / (std::string(key) + ".json");
}

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<std::string> directory_names(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        names.push_back(it->path().filename().string());
    if (ec && ec != std::errc::no_such_file_or_directory) throw_error_code("read directory", dir.string(), ec.value());
    std::sort(names.begin(), names.end());
    return names;
}

// What a tree takes on disk, as du counts it: allocated blocks, hard links once.
std::int64_t disk_bytes(const fs::path& root) {
    std::int64_t total = 0;
    std::set<std::pair<dev_t, ino_t>> linked;
    const auto count = [&](const fs::path& p) {
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0) return;
        if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !linked.insert({st.st_dev, st.st_ino}).second) return;
        total += static_cast<std::int64_t>(st.st_blocks) * 512;
    };
    count(root);
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end; !ec && it != end;
         it.increment(ec))
        count(it->path());
    return total;
}

std::int64_t file_bytes(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

struct Roots {
    std::unordered_set<std::string> blobs;      // "sha256:<hex>"
    std::unordered_set<std::string> snapshots;  // chain ids
    std::size_t tags = 0;
};

// An image manifest: itself, its config and layers, and its layers' snapshots. An image
// index (several platforms, as skopeo copies them): itself and those of its manifests
// that the store holds.
void add_manifest(const Store& store, const Descriptor& manifest, Roots& roots, int depth = 0) {
    roots.blobs.insert(manifest.digest);
    if (manifest.media_type == media::index) {
        if (depth > 4) throw Error("image indexes nested too deep");
        const json index = json::parse(store.read_blob(manifest.digest), nullptr, false);
        if (index.is_discarded() || !index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
            throw Error("image index '" + manifest.digest + "' has no manifests array");
        for (const auto& entry : index["manifests"]) {
            const Descriptor child = descriptor_from_json(entry);
            if (store.has_blob(child.digest)) add_manifest(store, child, roots, depth + 1);
        }
        return;
    }
    const Image image = store.load_image(manifest);
    roots.blobs.insert(image.manifest.at("config").at("digest").get<std::string>());
    for (const auto& layer : image.layers()) roots.blobs.insert(layer.digest);
    for (const auto& chain : chain_ids(image.diff_ids())) roots.snapshots.insert(chain);
}

// The images kept containers stand on (strata run --name): commit needs their layers.
void add_container_roots(const Store& store, Roots& roots) {
    for (const auto& container : list_containers(store))
        if (store.has_blob(container.image.digest)) add_manifest(store, container.image, roots);
}

// Every manifest in index.json, tagged or not: skopeo and umoci can reach each of them.
Roots image_roots(const Store& store) {
    Roots roots;
    const fs::path index_path = store.layout_dir() / "index.json";
    const json index = json::parse(read_file(index_path), nullptr, false);
    if (index.is_discarded() || !index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
        throw Error("'" + index_path.string() + "' is not an OCI index: refusing to collect garbage");
    for (const auto& entry : index["manifests"]) {
        const Descriptor manifest = descriptor_from_json(entry);
        const auto name = manifest.annotations.find(ref_name_annotation);
        if (name != manifest.annotations.end()) ++roots.tags;
        const std::string what = name != manifest.annotations.end() ? name->second : manifest.digest;
        with_context("image '" + what + "' (refusing to collect garbage)", [&] { add_manifest(store, manifest, roots); });
    }
    add_container_roots(store, roots);
    return roots;
}

void read_refs(const json& record, RecordInfo& info) {
    const auto refs = record.find("refs");
    if (refs == record.end() || !refs->is_object()) return;
    const auto strings = [&](const char* field, std::vector<std::string>& out) {
        const auto list = refs->find(field);
        if (list == refs->end() || !list->is_array()) return;
        for (const auto& item : *list)
            if (item.is_string() && is_sha256_digest(item.get<std::string>())) out.push_back(item.get<std::string>());
    };
    strings("blobs", info.blobs);
    strings("snapshots", info.snapshots);
}

std::vector<std::string> record_namespaces(const Store& store) { return directory_names(store.root() / "records"); }

void add_record_roots(const Store& store, Roots& roots) {
    for (const auto& ns : record_namespaces(store))
        for (const auto& record : list_records(store, ns)) {
            roots.blobs.insert(record.blobs.begin(), record.blobs.end());
            roots.snapshots.insert(record.snapshots.begin(), record.snapshots.end());
        }
}

std::vector<std::string> stored_blobs(const Store& store) {
    std::vector<std::string> out;
    for (const auto& name : directory_names(store.layout_dir() / "blobs" / "sha256"))
        if (detail::is_hex64(name)) out.push_back("sha256:" + name);
    return out;
}

std::vector<std::string> stored_snapshots(const Store& store) {
    std::vector<std::string> out;
    for (const auto& name : directory_names(store.root() / "snapshots"))
        if (detail::is_hex64(name)) out.push_back("sha256:" + name);
    return out;
}

// The size of each object that exists, memoised: snapshot sizes need a walk.
class Sizes {
public:
    explicit Sizes(const Store& store) : store_(store) {}
    std::int64_t blob(const std::string& digest) {
        auto [it, added] = blobs_.try_emplace(digest, 0);
        if (added) it->second = file_bytes(store_.blob_path(digest));
        return it->second;
    }
    std::int64_t snapshot(const std::string& chain) {
        auto [it, added] = snapshots_.try_emplace(chain, 0);
        if (added) it->second = store_.has_snapshot(chain) ? disk_bytes(store_.snapshot_dir(chain)) : 0;
        return it->second;
    }

private:
    const Store& store_;
    std::map<std::string, std::int64_t> blobs_, snapshots_;
};

struct NamedRecord {
    std::string ns;
    RecordInfo info;
};

// How many records keep each object alive that no image reaches, and what those take.
class CacheOnly {
public:
    CacheOnly(const Roots& images, Sizes& sizes) : images_(images), sizes_(sizes) {}
    // True when the record keeps alive something no image uses.
    bool costs(const RecordInfo& r) const {
        const auto outside = [](const auto& list, const auto& set) {
            return std::any_of(list.begin(), list.end(), [&](const std::string& o) { return !set.count(o); });
        };
        return outside(r.blobs, images_.blobs) || outside(r.snapshots, images_.snapshots);
    }
    void add(const RecordInfo& r) { change(r, +1); }
    void remove(const RecordInfo& r) { change(r, -1); }
    std::int64_t bytes() const { return bytes_; }

private:
    void change(const RecordInfo& r, int delta) {
        for (const auto& b : r.blobs)
            if (!images_.blobs.count(b)) count(blob_refs_, b, delta, [&] { return sizes_.blob(b); });
        for (const auto& s : r.snapshots)
            if (!images_.snapshots.count(s)) count(snapshot_refs_, s, delta, [&] { return sizes_.snapshot(s); });
    }
    template <typename SizeFn>
    void count(std::map<std::string, int>& refs, const std::string& object, int delta, SizeFn size) {
        int& n = refs[object];
        if (n == 0 && delta > 0) bytes_ += size();
        n += delta;
        if (n == 0 && delta < 0) bytes_ -= size();
    }
    const Roots& images_;
    Sizes& sizes_;
    std::map<std::string, int> blob_refs_, snapshot_refs_;
    std::int64_t bytes_ = 0;
};

std::vector<NamedRecord> records_of(const Store& store, const std::vector<std::string>& namespaces) {
    std::vector<NamedRecord> out;
    for (const auto& ns : namespaces)
        for (auto& r : list_records(store, ns)) out.push_back({ns, std::move(r)});
    return out;
}

void remove_file_if_present(const fs::path& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", path.string());
}

std::vector<NamedRecord> choose_records(const std::vector<NamedRecord>& records, const PruneOptions& options,
                                        CacheOnly& cache) {
    const std::int64_t now = now_seconds();
    std::vector<NamedRecord> candidates;
    for (const auto& r : records) {
        cache.add(r.info);
        const bool eligible = options.all || !r.info.readable || cache.costs(r.info);
        const bool old_enough = !options.unused_for_seconds || now - r.info.last_used >= *options.unused_for_seconds;
        if (eligible && old_enough) candidates.push_back(r);
    }
    std::sort(candidates.begin(), candidates.end(), [](const NamedRecord& a, const NamedRecord& b) {
        return std::tie(a.info.last_used, a.ns, a.info.key) < std::tie(b.info.last_used, b.ns, b.info.key);
    });
    if (!options.keep_bytes) return candidates;
    std::vector<NamedRecord> chosen;
    for (const auto& r : candidates) {
        if (cache.bytes() <= *options.keep_bytes) break;
        cache.remove(r.info);
        chosen.push_back(r);
    }
    return chosen;
}

// A snapshot leaves its name first (rename into this process's scratch space), so a crash
// midway never leaves a half-deleted tree that has_snapshot() would take for whole.
void remove_snapshot(Store& store, const std::string& chain) {
    const fs::path dir = store.snapshot_dir(chain);
    const fs::path doomed = store.tmp_dir() / ("gc-" + chain.substr(7));
    if (::rename(dir.c_str(), doomed.c_str()) != 0) {
        if (errno == ENOENT) return;
        throw_errno("rename", dir.string());
    }
    remove_tree(doomed);
}

void sweep(Store& store, PruneResult& result) {
    Roots roots = image_roots(store);
    add_record_roots(store, roots);
    for (const auto& digest : stored_blobs(store)) {
        if (roots.blobs.count(digest)) continue;
        const fs::path path = store.blob_path(digest);
        const std::int64_t bytes = file_bytes(path);
        remove_file_if_present(path);
        ++result.blobs_removed;
        result.bytes_freed += bytes;
    }
    bool removed_any = false;
    for (const auto& chain : stored_snapshots(store)) {
        if (roots.snapshots.count(chain)) continue;
        const std::int64_t bytes = disk_bytes(store.snapshot_dir(chain));
        remove_snapshot(store, chain);
        ++result.snapshots_removed;
        result.bytes_freed += bytes;
        removed_any = true;
    }
    if (removed_any) fsync_path(store.root() / "snapshots");
    if (result.blobs_removed > 0) fsync_path(store.layout_dir() / "blobs" / "sha256");
}

} // namespace

GcLock::GcLock(const Store& store, Mode mode, const std::function<void()>& on_wait) {
    const fs::path path = store.root() / "gc.lock";
    fd_ = Fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd_) throw_errno("open", path.string());
    const int op = mode == Mode::collect ? LOCK_EX : LOCK_SH;
    if (::flock(fd_.get(), op | LOCK_NB) == 0) return;
    if (errno != EWOULDBLOCK && errno != EINTR) throw_errno("flock", path.string());
    if (on_wait) on_wait();
    while (::flock(fd_.get(), op) != 0)
        if (errno != EINTR) throw_errno("flock", path.string());
}

fs::path local_state_dir(const Store& store, std::string_view area) {
    check_name("local state area", area);
    const fs::path dir = store.root() / "local" / std::string(area);
    make_dirs(dir);
    return dir;
}

void mark_record_used(const Store& store, std::string_view ns, std::string_view key) {
    const fs::path path = record_path(store, ns, key);
    // UTIME_NOW for mtime; atime left alone. A record removed meanwhile is simply gone.
    const struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0 && errno != ENOENT) throw_errno("utimensat", path.string());
}

std::vector<RecordInfo> list_records(const Store& store, std::string_view ns) {
    const fs::path dir = records_dir(store, ns);
    std::vector<RecordInfo> out;
    for (const auto& name : directory_names(dir)) {
        if (!name.ends_with(".json") || name.size() == 5) continue;  // temp files of atomic writes
        const fs::path path = dir / name;
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        RecordInfo info;
        info.key = name.substr(0, name.size() - 5);
        info.last_used = static_cast<std::int64_t>(st.st_mtim.tv_sec);
        std::string bytes;
        try {
            bytes = read_file(path);
        } catch (const SysError& e) {
            if (e.error_code() == ENOENT) continue;  // removed meanwhile
            throw;
        }
        const json record = json::parse(bytes, nullptr, false);
        info.readable = !record.is_discarded() && record.is_object();
        if (info.readable) read_refs(record, info);
        out.push_back(std::move(info));
    }
    return out;
}

DiskUsage disk_usage(const Store& store, const std::vector<std::string>& cache_namespaces) {
    DiskUsage usage;
    const Roots images = image_roots(store);
    usage.images = images.tags;
    Roots all = images;
    add_record_roots(store, all);
    Sizes sizes(store);
    for (const auto& digest : stored_blobs(store)) {
        const std::int64_t bytes = sizes.blob(digest);
        usage.blobs.add(bytes);
        if (images.blobs.count(digest)) usage.image_blobs.add(bytes);
        else if (all.blobs.count(digest)) usage.cache_blobs.add(bytes);
        else usage.garbage_blobs.add(bytes);
    }
    for (const auto& chain : stored_snapshots(store)) {
        const std::int64_t bytes = sizes.snapshot(chain);
        usage.snapshots.add(bytes);
        if (images.snapshots.count(chain)) usage.image_snapshots.add(bytes);
        else if (all.snapshots.count(chain)) usage.cache_snapshots.add(bytes);
        else usage.garbage_snapshots.add(bytes);
    }
    CacheOnly cache(images, sizes);
    for (const auto& r : records_of(store, cache_namespaces)) {
        ++usage.cache_records;
        if (r.info.readable && !cache.costs(r.info) && !(r.info.blobs.empty() && r.info.snapshots.empty()))
            ++usage.cache_records_in_images;
    }
    return usage;
}

PruneResult prune(Store& store, const PruneOptions& options) {
    const GcLock collecting(store, GcLock::Mode::collect, options.on_wait);
    // Tags change under the store lock; hold it so the roots read are the roots swept against.
    const FileLock refs = store.lock(FileLock::Mode::exclusive);
    PruneResult result;
    {
        const Roots images = image_roots(store);  // fails before anything is removed
        Sizes sizes(store);
        CacheOnly cache(images, sizes);
        for (const auto& r : choose_records(records_of(store, options.namespaces), options, cache)) {
            remove_file_if_present(record_path(store, r.ns, r.info.key));
            ++result.records_removed;
        }
    }
    for (const auto& ns : options.clear_namespaces) {
        for (const auto& r : list_records(store, ns)) {
            remove_file_if_present(record_path(store, ns, r.key));
            ++result.cleared_records;
        }
    }
    for (const auto& area : options.clear_local_areas) {
        check_name("local state area", area);
        remove_tree(store.root() / "local" / area);
    }
    sweep(store, result);
    return result;
}

} // namespace strata::store
