// strata fsck: re-hashes every blob, follows every reference (index.json, records, kept
// containers) and looks for leftovers; with repair, removes what can no longer resolve.
#include "store/fsck.hpp"

#include "store/containers.hpp"
#include "store/gc.hpp"
#include "store/internal.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace strata::store {

namespace {

constexpr std::size_t hash_buffer_size = 1 << 20;  // per hashing thread: memory stays bounded
constexpr int max_index_depth = 4;                  // image indexes within indexes, as gc allows

// write_file_atomic's and write_file_replace's temp names: "<file>.tmp-XXXXXX".
bool is_temp_name(std::string_view name) { return name.find(".tmp-") != std::string_view::npos; }

std::optional<struct stat> lstat_path(const fs::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
    return st;
}

// A directory's names, sorted; none when it does not exist.
std::vector<std::string> names_in(const fs::path& dir) {
    const auto st = lstat_path(dir);
    if (!st || !S_ISDIR(st->st_mode)) return {};
    return sorted_dir_names(dir);
}

void remove_path(const fs::path& path) {
    const auto st = lstat_path(path);
    if (!st) return;
    if (S_ISDIR(st->st_mode)) remove_tree(path);
    else if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", path.string());
}

struct BlobState {
    std::string actual;  // the digest of its content; empty when it could not be read
    std::string error;   // why it could not be read
    std::int64_t size = 0;
    bool ok(const std::string& digest) const { return actual == digest; }
};

BlobState hash_blob(const fs::path& path, std::vector<char>& buffer) {
    BlobState state;
    try {
        Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) throw_errno("open", path.string());
        ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
        Sha256 sha;
        for (;;) {
            const std::size_t n = read_some(fd.get(), buffer.data(), buffer.size(), path.c_str());
            if (n == 0) break;
            sha.update(buffer.data(), n);
            state.size += static_cast<std::int64_t>(n);
        }
        state.actual = sha.digest();
    } catch (const Error& e) {
        state.error = e.what();
    }
    return state;
}

// Hashes every blob, `threads` at once, each streamed through its own bounded buffer.
std::vector<BlobState> hash_blobs(const Store& store, const std::vector<std::string>& digests, unsigned threads) {
    std::vector<BlobState> states(digests.size());
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
        std::vector<char> buffer(hash_buffer_size);
        for (std::size_t i; (i = next.fetch_add(1)) < digests.size();) states[i] = hash_blob(store.blob_path(digests[i]), buffer);
    };
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    threads = static_cast<unsigned>(std::min<std::size_t>(threads, digests.size()));
    std::vector<std::thread> workers;
    for (unsigned t = 1; t < threads; ++t) workers.emplace_back(work);
    work();
    for (auto& w : workers) w.join();
    return states;
}

// What one image, record or container names: kept only if the reference itself stays.
struct Refs {
    std::set<std::string> blobs;
    std::set<std::string> snapshots;
};

class Checker {
public:
    Checker(Store& store, const FsckOptions& options, FsckReport& report)
        : store_(store), options_(options), report_(report) {}

    void run() {
        check_layout_files();
        check_blobs();
        check_index();
        check_records();
        check_containers();
        check_snapshots();
        check_tmp();
        count_garbage();
        if (options_.repair) repair();
    }

private:
    // ----- problems and the repairs planned for them

    std::size_t problem(std::string subject, std::string message) {
        report_.problems.push_back({std::move(subject), std::move(message), {}});
        return report_.problems.size() - 1;
    }
    // A file or tree that is nothing valid: removed on repair.
    void removable(std::string subject, const fs::path& path, std::string message) {
        removals_.push_back({path, problem(std::move(subject), std::move(message))});
    }
    void leftover(const fs::path& path, std::string message) { removable(relative(path), path, std::move(message)); }
    std::string relative(const fs::path& path) const { return path.lexically_relative(store_.root()).string(); }

    // ----- the layout's own files

    void check_layout_files() {
        const fs::path layout = store_.layout_dir();
        for (const auto& name : names_in(layout))
            if (is_temp_name(name)) leftover(layout / name, "temp file of an interrupted write");
        const fs::path marker = layout / "oci-layout";
        const json doc = json::parse(read_or_empty(marker), nullptr, false);
        if (doc.is_discarded() || !doc.is_object() || !doc.contains("imageLayoutVersion") ||
            !doc["imageLayoutVersion"].is_string())
            layout_marker_problem_ = problem(relative(marker), "not an OCI layout marker");
    }

    static std::string read_or_empty(const fs::path& path) {
        try {
            return read_file(path);
        } catch (const Error&) {
            return {};
        }
    }

    // ----- blobs

    void check_blobs() {
        const fs::path blobs = store_.layout_dir() / "blobs";
        for (const auto& name : names_in(blobs)) {
            const auto st = lstat_path(blobs / name);
            // Other algorithms' folders are OCI's business, not ours: strata writes sha256 only.
            if (st && !S_ISDIR(st->st_mode)) leftover(blobs / name, "not a blob (blobs/ holds one folder per algorithm)");
        }
        const fs::path dir = blobs / "sha256";
        std::vector<std::string> digests;
        for (const auto& name : names_in(dir)) {
            const auto st = lstat_path(dir / name);
            if (!detail::is_hex64(name)) leftover(dir / name, "not a blob: the name is not a sha256 digest");
            else if (!st || !S_ISREG(st->st_mode)) leftover(dir / name, "not a blob: not a regular file");
            else digests.push_back("sha256:" + name);
        }
        const std::vector<BlobState> states = hash_blobs(store_, digests, options_.threads);
        for (std::size_t i = 0; i < digests.size(); ++i) {
            const BlobState& state = states[i];
            ++report_.blobs;
            report_.blob_bytes += state.size;
            if (!state.error.empty()) {
                problem("blob " + digests[i], "cannot be read: " + state.error);
            } else if (!state.ok(digests[i])) {
                removable("blob " + digests[i], store_.blob_path(digests[i]), "corrupt: its content hashes to " + state.actual);
            }
            blobs_.emplace(digests[i], state);
        }
    }

    // Why `d`'s blob cannot serve as `what`, if it cannot.
    std::optional<std::string> blob_problem(const Descriptor& d, const std::string& what) const {
        const auto it = blobs_.find(d.digest);
        if (it == blobs_.end()) return what + " " + d.digest + " is missing";
        if (!it->second.error.empty()) return what + " " + d.digest + " cannot be read";
        if (!it->second.ok(d.digest)) return what + " " + d.digest + " is corrupt";
        if (it->second.size != d.size)
            return what + " " + d.digest + " has " + std::to_string(it->second.size) + " bytes, its descriptor says " +
                   std::to_string(d.size);
        return std::nullopt;
    }

    // ----- images

    // The first thing wrong with the image `manifest` describes, if anything; what it
    // references goes into refs either way.
    std::optional<std::string> image_problem(const Descriptor& manifest, Refs& refs, int depth = 0) const {
        refs.blobs.insert(manifest.digest);
        if (manifest.media_type == media::index) return index_problem(manifest, refs, depth);
        if (manifest.media_type != media::manifest)
            return "manifest " + manifest.digest + " has unsupported media type '" + manifest.media_type + "'";
        if (auto p = blob_problem(manifest, "manifest")) return p;
        const json doc = json::parse(read_or_empty(store_.blob_path(manifest.digest)), nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) return "manifest " + manifest.digest + " is not a JSON object";
        try {
            const Descriptor config = descriptor_from_json(doc.value("config", json()));
            refs.blobs.insert(config.digest);
            if (auto p = blob_problem(config, "config")) return p;
            const auto layers = doc.value("layers", json());
            if (!layers.is_array()) return "manifest " + manifest.digest + " has no layers array";
            for (std::size_t i = 0; i < layers.size(); ++i) {
                const Descriptor layer = descriptor_from_json(layers[i]);
                refs.blobs.insert(layer.digest);
                const std::string what = "layer " + std::to_string(i);
                if (!detail::is_oci_layer_media_type(layer.media_type))
                    return what + " " + layer.digest + " has unsupported media type '" + layer.media_type + "'";
                if (auto p = blob_problem(layer, what)) return p;
            }
            // Schema version, media types, the config's JSON and diff ids, as every reader checks them.
            const Image image = store_.load_image(manifest);
            for (const auto& chain : chain_ids(image.diff_ids())) refs.snapshots.insert(chain);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::nullopt;
    }

    // An image index (several platforms, as skopeo copies them): those of its manifests
    // that the store holds must be whole; the others were never copied.
    std::optional<std::string> index_problem(const Descriptor& index, Refs& refs, int depth) const {
        if (depth > max_index_depth) return "image indexes nested too deep";
        if (auto p = blob_problem(index, "image index")) return p;
        const json doc = json::parse(read_or_empty(store_.blob_path(index.digest)), nullptr, false);
        if (doc.is_discarded() || !doc.is_object() || !doc.contains("manifests") || !doc["manifests"].is_array())
            return "image index " + index.digest + " has no manifests array";
        try {
            for (const auto& entry : doc["manifests"]) {
                const Descriptor child = descriptor_from_json(entry);
                if (!blobs_.count(child.digest)) continue;
                if (auto p = image_problem(child, refs, depth + 1)) return p;
            }
        } catch (const Error& e) {
            return "image index " + index.digest + ": " + e.what();
        }
        return std::nullopt;
    }

    static std::string entry_name(const Descriptor& d) {
        for (const char* key : {ref_name_annotation, containerd_name_annotation}) {
            const auto it = d.annotations.find(key);
            if (it != d.annotations.end()) return it->second;
        }
        return d.digest;
    }

    void check_index() {
        const fs::path path = store_.layout_dir() / "index.json";
        index_ = json::parse(read_or_empty(path), nullptr, false);
        if (index_.is_discarded() || !index_.is_object() || !index_.contains("manifests") || !index_["manifests"].is_array()) {
            problem(relative(path), "not an OCI image index: no image can be checked (nor repaired)");
            index_ = json();
            return;
        }
        const json& entries = index_["manifests"];
        for (std::size_t i = 0; i < entries.size(); ++i) {
            ++report_.images;
            Descriptor manifest;
            try {
                manifest = descriptor_from_json(entries[i]);
            } catch (const Error& e) {
                dropped_entries_.push_back({i, problem("index.json entry " + std::to_string(i), e.what())});
                continue;
            }
            Refs refs;
            if (const auto p = image_problem(manifest, refs))
                dropped_entries_.push_back({i, problem("image " + entry_name(manifest), *p)});
            else
                keep(refs);
        }
    }

    void keep(const Refs& refs) {
        referenced_blobs_.insert(refs.blobs.begin(), refs.blobs.end());
        referenced_snapshots_.insert(refs.snapshots.begin(), refs.snapshots.end());
    }

    // ----- records

    void check_records() {
        const fs::path root = store_.root() / "records";
        for (const auto& ns : names_in(root)) {
            for (const auto& name : names_in(root / ns))
                if (!name.ends_with(".json") || name.size() == 5)
                    leftover(root / ns / name, is_temp_name(name) ? "temp file of an interrupted write" : "not a record");
            for (const auto& record : list_records(store_, ns)) {
                ++report_.records;
                const fs::path path = root / ns / (record.key + ".json");
                const std::string subject = "record " + ns + "/" + record.key;
                if (!record.readable) {
                    record_removals_.push_back({path, problem(subject, "not a JSON object")});
                    continue;
                }
                if (const auto p = record_problem(record))
                    record_removals_.push_back({path, problem(subject, *p)});
                else
                    keep(refs_of(record));
            }
        }
    }

    static Refs refs_of(const RecordInfo& record) {
        Refs refs;
        refs.blobs.insert(record.blobs.begin(), record.blobs.end());
        refs.snapshots.insert(record.snapshots.begin(), record.snapshots.end());
        return refs;
    }

    std::optional<std::string> record_problem(const RecordInfo& record) const {
        for (const auto& digest : record.blobs) {
            const auto it = blobs_.find(digest);
            if (it == blobs_.end()) return "blob " + digest + " is missing";
            if (!it->second.ok(digest)) return "blob " + digest + (it->second.error.empty() ? " is corrupt" : " cannot be read");
        }
        for (const auto& chain : record.snapshots)
            if (!store_.has_snapshot(chain)) return "snapshot " + chain + " is missing";
        return std::nullopt;
    }

    // ----- kept containers

    void check_containers() {
        const fs::path root = store_.root() / "containers";
        for (const auto& name : names_in(root)) {
            ++report_.containers;
            const fs::path dir = root / name;
            if (!lstat_path(dir / "container.json")) {
                check_unfinished_container(dir, name);
                continue;
            }
            std::optional<ContainerRecord> container;
            try {
                container = find_container(store_, name);
            } catch (const Error& e) {
                problem("container " + name, std::string(e.what()) + " (strata rm " + name + " removes it)");
                continue;
            }
            if (!container) continue;  // removed meanwhile
            Refs refs;
            if (const auto p = image_problem(container->image, refs))
                problem("container " + name, "its image: " + *p + " (strata rm " + name + " removes it)");
            keep(refs);  // a container is never removed by fsck: what it names stays named
        }
    }

    // A container whose creation was interrupted before its container.json was written:
    // nothing ran in it yet, so an empty writable layer is all it has.
    void check_unfinished_container(const fs::path& dir, const std::string& name) {
        const auto upper = names_in(dir / "upper");
        if (upper.empty()) leftover(dir, "container " + name + " was never finished (no container.json)");
        else problem("container " + name, "no container.json, but its writable layer holds files: not removed");
    }

    // ----- snapshots and scratch space

    void check_snapshots() {
        const fs::path root = store_.root() / "snapshots";
        for (const auto& name : names_in(root)) {
            const auto st = lstat_path(root / name);
            if (!detail::is_hex64(name) || !st || !S_ISDIR(st->st_mode)) {
                leftover(root / name, "not a snapshot (snapshots are directories named by chain id)");
                continue;
            }
            ++report_.snapshots;
            snapshots_.push_back("sha256:" + name);
        }
    }

    // Live sessions (their lock file beside them) belong to running strata processes;
    // abandoned ones were removed when this store was opened. Anything else is a leftover.
    void check_tmp() {
        const fs::path root = store_.root() / "tmp";
        const auto names = names_in(root);
        const std::set<std::string> present(names.begin(), names.end());
        for (const auto& name : names) {
            if (name.starts_with("session-") && name.ends_with(".lock")) continue;
            if (name.starts_with("session-") && present.count(name + ".lock")) continue;
            leftover(root / name, "scratch space no running strata owns");
        }
    }

    void count_garbage() {
        for (const auto& [digest, state] : blobs_)
            if (state.ok(digest) && !referenced_blobs_.count(digest)) ++report_.unreferenced_blobs;
        for (const auto& chain : snapshots_)
            if (!referenced_snapshots_.count(chain)) ++report_.unreferenced_snapshots;
    }

    // ----- repair: names first, then objects (a crash midway leaves garbage, never a dangling name)

    void repair() {
        if (!dropped_entries_.empty() && !index_.is_null()) rewrite_index();
        for (const auto& [path, p] : record_removals_) remove_for(path, p);
        for (const auto& [path, p] : removals_) remove_for(path, p);
        if (layout_marker_problem_) {
            write_file_atomic(store_.layout_dir() / "oci-layout", json{{"imageLayoutVersion", "1.0.0"}}.dump());
            report_.problems[*layout_marker_problem_].repair = "rewritten";
        }
        store_.sync();
    }

    void remove_for(const fs::path& path, std::size_t p) {
        try {
            remove_path(path);
            report_.problems[p].repair = "removed";
        } catch (const Error& e) {
            report_.problems[p].message += "; cannot remove it: " + std::string(e.what());
        }
    }

    // Drops the broken entries, under the store lock that tag() takes, from the index as it
    // is now: only entries that still are what was checked go (a tag written meanwhile stays).
    void rewrite_index() {
        const fs::path path = store_.layout_dir() / "index.json";
        const FileLock guard = store_.lock(FileLock::Mode::exclusive);
        json index = json::parse(read_or_empty(path), nullptr, false);
        if (index.is_discarded() || !index.is_object() || !index.contains("manifests") || !index["manifests"].is_array()) return;
        std::vector<json> broken;
        for (const auto& [i, p] : dropped_entries_) broken.push_back(index_["manifests"][i]);
        json kept = json::array();
        for (const auto& entry : index["manifests"])
            if (std::find(broken.begin(), broken.end(), entry) == broken.end()) kept.push_back(entry);
        index["manifests"] = std::move(kept);
        write_file_atomic(path, index.dump());
        for (const auto& [i, p] : dropped_entries_) report_.problems[p].repair = "removed from index.json";
    }

    struct Removal {
        fs::path path;
        std::size_t problem;
    };
    struct DroppedEntry {
        std::size_t entry;
        std::size_t problem;
    };

    Store& store_;
    const FsckOptions& options_;
    FsckReport& report_;
    std::map<std::string, BlobState> blobs_;
    std::vector<std::string> snapshots_;
    std::set<std::string> referenced_blobs_, referenced_snapshots_;
    json index_;
    std::optional<std::size_t> layout_marker_problem_;
    std::vector<DroppedEntry> dropped_entries_;
    std::vector<Removal> record_removals_;
    std::vector<Removal> removals_;
};

} // namespace

std::size_t FsckReport::repaired() const {
    return static_cast<std::size_t>(
        std::count_if(problems.begin(), problems.end(), [](const FsckProblem& p) { return !p.repair.empty(); }));
}

std::string describe(const FsckProblem& problem) {
    return problem.subject + ": " + problem.message + (problem.repair.empty() ? "" : " (" + problem.repair + ")");
}

FsckReport fsck(Store& store, const FsckOptions& options) {
    const GcLock exclusive(store, GcLock::Mode::collect, options.on_wait);
    FsckReport report;
    Checker(store, options, report).run();
    return report;
}

} // namespace strata::store
