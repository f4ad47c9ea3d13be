// The build context's stat cache and the source digests built on it.
//
// On disk (<root>/local/context-stat/<sha256 of the context's absolute path>), native
// byte order since the file never leaves this machine:
//   "STRSTAT1" u32 format, u32 generation, u64 count
//   count x { u64 size, i64 mtime_ns, i64 ctime_ns, u64 inode, u64 dev, u32 mode,
//             u32 last_seen_generation, 32 bytes sha256, u32 path length, path bytes }
//   64 hex digits: sha256 of everything before
// Loading maps the file (one populated mmap), checks it and indexes the entries where
// they lie; a no-op rebuild then costs one fstatat and one index probe per file.
#include "builder/context_hashes.hpp"

#include "builder/cache.hpp"
#include "store/gc.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <string_view>
#include <sys/mman.h>
#include <unistd.h>
#include <unordered_map>

namespace strata::builder {

HashOptions hash_options_for_chmod(const std::string& chmod) {
    HashOptions options;
    options.include_mode = chmod.empty() || chmod.find_first_not_of("01234567") != std::string::npos;
    return options;
}

namespace {

constexpr char stat_cache_magic[8] = {'S', 'T', 'R', 'S', 'T', 'A', 'T', '1'};
constexpr std::uint32_t stat_cache_format = 1;
// An entry not seen in this many saves is dropped (files deleted or no longer copied).
constexpr std::uint32_t stat_cache_keep_generations = 32;

struct StatKey {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t dev = 0;
    std::uint32_t mode = 0;
    bool operator==(const StatKey&) const = default;
};

std::int64_t nanoseconds(const struct timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

StatKey stat_key(const struct stat& st) {
    return {static_cast<std::uint64_t>(st.st_size), nanoseconds(st.st_mtim), nanoseconds(st.st_ctim),
            static_cast<std::uint64_t>(st.st_ino),  static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint32_t>(st.st_mode)};
}

// The kernel stamps ctime from the coarse clock (or a finer one, never behind it): a file
// changed after this was read has a ctime at or after it.
std::int64_t coarse_now_ns() {
    struct timespec t {};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &t);
    return nanoseconds(t);
}

constexpr char hex_digits[] = "0123456789abcdef";

void to_hex(const unsigned char (&raw)[32], std::string& hex) {
    hex.resize(64);
    for (int i = 0; i < 32; ++i) {
        hex[2 * i] = hex_digits[raw[i] >> 4];
        hex[2 * i + 1] = hex_digits[raw[i] & 15];
    }
}

bool from_hex(std::string_view hex, unsigned char (&raw)[32]) {
    if (hex.size() != 64) return false;
    const auto value = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (int i = 0; i < 32; ++i) {
        const int hi = value(hex[2 * i]), lo = value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        raw[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    return true;
}

// Bounds-checked reads of native-order fields from the loaded bytes.
class Reader {
public:
    explicit Reader(std::string_view data) : data_(data) {}
    template <typename T>
    bool get(T& out) {
        if (data_.size() - pos_ < sizeof(T)) return false;
        std::memcpy(&out, data_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return true;
    }
    bool bytes(std::size_t n, std::string_view& out) {
        if (data_.size() - pos_ < n) return false;
        out = data_.substr(pos_, n);
        pos_ += n;
        return true;
    }
    bool done() const { return pos_ == data_.size(); }
    std::size_t position() const { return pos_; }

private:
    std::string_view data_;
    std::size_t pos_ = 0;
};

// A read-only private mapping of a whole file, populated in one call: on this kind of
// machine faulting pages in one by one costs more than the rest of a no-op rebuild.
class Mapping {
public:
    Mapping() = default;
    explicit Mapping(const fs::path& path) {
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st {};
        if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return;
        void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
        if (p == MAP_FAILED) return;
        data_ = static_cast<const char*>(p);
        size_ = static_cast<std::size_t>(st.st_size);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() {
        if (data_) ::munmap(const_cast<char*>(data_), size_);
    }
    std::string_view bytes() const { return {data_, size_}; }

private:
    const char* data_ = nullptr;
    std::size_t size_ = 0;
};

// The order a walk meets paths in: directory by directory, names sorted bytewise. That is
// bytewise order with '/' below every other byte ("a/b/x" comes before "a/b.txt").
bool walk_order_less(std::string_view a, std::string_view b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        if (a[i] == b[i]) continue;
        if (a[i] == '/') return true;
        if (b[i] == '/') return false;
        return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
    }
    return a.size() < b.size();
}

template <typename T>
void append_raw(std::string& out, const T& value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

} // namespace

// Loaded entries stay in the mapped file: an open-addressing index of their offsets finds
// them, a byte per entry says whether this build saw it. Entries hashed in this build go to
// a small map beside them. Nothing is allocated per loaded entry.
class ContextHashes::StatCache {
public:
    explicit StatCache(fs::path file) : file_(std::move(file)), mapping_(file_) {
        if (!load()) {
            offsets_.clear();
            index_.clear();
            generation_ = 0;
        }
        seen_.assign(offsets_.size(), 0);
    }

    // The content digest recorded for `rel` if its stat key is unchanged. `cursor` is the
    // caller's guess of the entry to look at first: entries are saved in walk order, so a
    // walk that meets them again in that order finds each next to the last one, with no
    // hashing and no jumps through memory.
    bool find(const std::string& rel, const StatKey& key, std::string& hex, std::size_t& cursor) {
        std::lock_guard lock(mutex_);
        if (!fresh_.empty()) {
            const auto it = fresh_.find(rel);
            if (it != fresh_.end()) {
                if (!it->second.forgotten && it->second.key == key) {
                    to_hex(it->second.sha, hex);
                    return true;
                }
                return false;
            }
        }
        const std::size_t i = cursor < offsets_.size() && loaded_path(cursor) == rel ? cursor : loaded_index(rel);
        if (i == npos) return false;
        cursor = i + 1;
        if (!(loaded_key(i) == key)) return false;
        seen_[i] = 1;
        unsigned char sha[32];
        std::memcpy(sha, entry_at(i) + sha_offset, sizeof sha);
        to_hex(sha, hex);
        return true;
    }

    void put(const std::string& rel, const StatKey& key, const std::string& hex) {
        Fresh entry{key, {}, false};
        if (!from_hex(hex, entry.sha)) return;
        std::lock_guard lock(mutex_);
        fresh_.insert_or_assign(rel, entry);
        dirty_ = true;
    }

    // A file that changed while it was read, or too recently to trust its stat: forget it.
    void forget(const std::string& rel) {
        std::lock_guard lock(mutex_);
        fresh_.insert_or_assign(rel, Fresh{{}, {}, true});
        dirty_ = true;
    }

    // Writes what is worth keeping, in walk order (see find), whatever order the threads
    // of this build met the entries in.
    void save() {
        std::lock_guard lock(mutex_);
        if (!dirty_) return;
        const std::uint32_t generation = generation_ + 1;
        struct Kept {
            std::string_view path;
            std::size_t loaded;  // npos: from fresh_
            const Fresh* fresh;
            std::uint32_t seen;
        };
        std::vector<Kept> kept;
        kept.reserve(offsets_.size() + fresh_.size());
        for (std::size_t i = 0; i < offsets_.size(); ++i) {
            const std::string_view path = loaded_path(i);
            if (!fresh_.empty() && fresh_.count(std::string(path))) continue;  // replaced or forgotten
            const std::uint32_t seen = seen_[i] ? generation : loaded_seen(i);
            if (seen + stat_cache_keep_generations < generation) continue;  // not met for a long time
            kept.push_back({path, i, nullptr, seen});
        }
        for (const auto& [path, f] : fresh_)
            if (!f.forgotten) kept.push_back({path, npos, &f, generation});
        std::sort(kept.begin(), kept.end(), [](const Kept& a, const Kept& b) { return walk_order_less(a.path, b.path); });

        std::string out;
        out.reserve(mapping_.bytes().size() + fresh_.size() * 128 + 64);
        out.append(stat_cache_magic, sizeof stat_cache_magic);
        append_raw(out, stat_cache_format);
        append_raw(out, generation);
        append_raw(out, static_cast<std::uint64_t>(kept.size()));
        for (const Kept& k : kept) {
            if (k.loaded != npos) {
                const char* e = entry_at(k.loaded);
                out.append(e, seen_offset);
                append_raw(out, k.seen);
                out.append(e + sha_offset, fixed_size - sha_offset);
            } else {
                append_raw(out, k.fresh->key.size);
                append_raw(out, k.fresh->key.mtime_ns);
                append_raw(out, k.fresh->key.ctime_ns);
                append_raw(out, k.fresh->key.inode);
                append_raw(out, k.fresh->key.dev);
                append_raw(out, k.fresh->key.mode);
                append_raw(out, k.seen);
                out.append(reinterpret_cast<const char*>(k.fresh->sha), sizeof k.fresh->sha);
                append_raw(out, static_cast<std::uint32_t>(k.path.size()));
            }
            out.append(k.path);
        }
        out += sha256_hex(out);
        write_file_atomic(file_, out, 0600);
        dirty_ = false;
    }

private:
    // An entry: u64 size, i64 mtime, i64 ctime, u64 inode, u64 dev, u32 mode | u32 seen |
    // 32 bytes sha256 | u32 path length | path.
    static constexpr std::size_t seen_offset = 44;
    static constexpr std::size_t sha_offset = 48;
    static constexpr std::size_t fixed_size = 84;  // up to the path
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    struct Fresh {
        StatKey key;
        unsigned char sha[32];
        bool forgotten = false;
    };

    const char* entry_at(std::size_t i) const { return mapping_.bytes().data() + offsets_[i]; }
    template <typename T>
    T field(std::size_t i, std::size_t offset) const {
        T v;
        std::memcpy(&v, entry_at(i) + offset, sizeof v);
        return v;
    }
    std::string_view loaded_path(std::size_t i) const {
        return {entry_at(i) + fixed_size, field<std::uint32_t>(i, fixed_size - 4)};
    }
    std::uint32_t loaded_seen(std::size_t i) const { return field<std::uint32_t>(i, seen_offset); }
    StatKey loaded_key(std::size_t i) const {
        return {field<std::uint64_t>(i, 0),  field<std::int64_t>(i, 8), field<std::int64_t>(i, 16),
                field<std::uint64_t>(i, 24), field<std::uint64_t>(i, 32), field<std::uint32_t>(i, 40)};
    }

    std::size_t slot_of(std::string_view path) const { return std::hash<std::string_view>()(path) & (index_.size() - 1); }

    std::size_t loaded_index(std::string_view path) const {
        if (index_.empty()) return npos;
        for (std::size_t slot = slot_of(path);; slot = (slot + 1) & (index_.size() - 1)) {
            const std::uint32_t v = index_[slot];
            if (v == 0) return npos;
            if (loaded_path(v - 1) == path) return v - 1;
        }
    }

    // Checks the whole file, then indexes its entries where they lie.
    bool load() {
        const std::string_view all = mapping_.bytes();
        if (all.size() < sizeof stat_cache_magic + 16 + 64 || all.size() > UINT32_MAX) return false;
        const std::string_view body = all.substr(0, all.size() - 64);
        if (sha256_hex(body) != all.substr(all.size() - 64)) return false;
        Reader r(body);
        std::string_view magic;
        std::uint32_t format = 0;
        std::uint64_t count = 0;
        if (!r.bytes(sizeof stat_cache_magic, magic) || magic != std::string_view(stat_cache_magic, sizeof stat_cache_magic))
            return false;
        if (!r.get(format) || format != stat_cache_format || !r.get(generation_) || !r.get(count)) return false;
        if (count > body.size() / fixed_size) return false;
        offsets_.reserve(static_cast<std::size_t>(count));
        std::size_t slots = 16;
        while (slots < count * 2) slots *= 2;
        index_.assign(slots, 0);
        for (std::uint64_t i = 0; i < count; ++i) {
            const std::size_t at = r.position();
            std::string_view fixed, path;
            std::uint32_t path_size = 0;
            if (!r.bytes(fixed_size - 4, fixed) || !r.get(path_size) || !r.bytes(path_size, path)) return false;
            std::size_t slot = slot_of(path);
            while (index_[slot] != 0) {
                if (loaded_path(index_[slot] - 1) == path) return false;  // written twice: not ours
                slot = (slot + 1) & (slots - 1);
            }
            offsets_.push_back(static_cast<std::uint32_t>(at));
            index_[slot] = static_cast<std::uint32_t>(offsets_.size());
        }
        return r.done();
    }

    fs::path file_;
    Mapping mapping_;                     // the file as loaded (a later save replaces the file, not this)
    std::vector<std::uint32_t> offsets_;  // loaded entry i starts at offsets_[i]
    std::vector<std::uint32_t> index_;    // open addressing: 0 empty, else entry + 1
    std::vector<std::uint8_t> seen_;      // loaded entry i was met in this build
    std::unordered_map<std::string, Fresh> fresh_;  // hashed (or forgotten) in this build
    std::mutex mutex_;
    std::uint32_t generation_ = 0;  // of the file loaded; the next save writes generation_ + 1
    bool dirty_ = false;
};

namespace {

// Content digests of context files: from the stat cache while the stat key matches,
// else read (and recorded when the file held still and is old enough to trust).
class CachedFileDigests final : public detail::FileDigests {
public:
    CachedFileDigests(ContextHashes::StatCache& cache, ContextHashes::Stats& stats)
        : cache_(cache), stats_(stats), racy_from_ns_(coarse_now_ns()) {}
    ~CachedFileDigests() override {
        stats_.files_read += files_read_;
        stats_.files_reused += files_reused_;
    }

    void content_digest(int dir_fd, const char* name, const std::string& rel, const std::string& shown,
                        const struct stat& st, std::string& hex, std::size_t& cursor) override {
        const StatKey key = stat_key(st);
        if (cache_.find(rel, key, hex, cursor)) {
            ++files_reused_;
            return;
        }
        struct stat after {};
        hex = detail::hash_file_content(dir_fd, name, shown, &after);
        ++files_read_;
        const StatKey after_key = stat_key(after);
        // Changed while we read it (the digest may mix two versions), or so recently that a
        // later change could keep the same ctime: hash it again next time.
        const bool held_still = after_key.size == key.size && after_key.mtime_ns == key.mtime_ns &&
                                after_key.ctime_ns == key.ctime_ns;
        if (held_still && key.ctime_ns < racy_from_ns_) cache_.put(rel, key, hex);
        else cache_.forget(rel);
    }

private:
    ContextHashes::StatCache& cache_;
    ContextHashes::Stats& stats_;  // receives the counts at the end
    const std::int64_t racy_from_ns_;
    std::atomic<std::size_t> files_read_{0}, files_reused_{0};
};

// Sources outside the context: every file read (and counted).
class ReadAndCount final : public detail::FileDigests {
public:
    explicit ReadAndCount(ContextHashes::Stats& stats) : stats_(stats) {}
    ~ReadAndCount() override { stats_.files_read += files_read_; }
    void content_digest(int dir_fd, const char* name, const std::string&, const std::string& shown,
                        const struct stat&, std::string& hex, std::size_t&) override {
        hex = detail::hash_file_content(dir_fd, name, shown);
        ++files_read_;
    }

private:
    ContextHashes::Stats& stats_;  // receives the count at the end
    std::atomic<std::size_t> files_read_{0};
};

fs::path stat_cache_file(store::Store& store, const fs::path& context_dir) {
    std::error_code ec;
    fs::path absolute = fs::weakly_canonical(fs::absolute(context_dir), ec);
    if (ec) absolute = fs::absolute(context_dir).lexically_normal();
    return store::local_state_dir(store, context_stat_area) / sha256_hex(absolute.string());
}

std::string without_trailing_slash(std::string s) {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
}

} // namespace

ContextHashes::ContextHashes() = default;

ContextHashes::ContextHashes(store::Store& store, const fs::path& context_dir)
    : store_(&store), context_dir_(context_dir),
      cache_file_(stat_cache_file(store, context_dir)) {}

ContextHashes::~ContextHashes() = default;

// Loaded on first use: a build that copies nothing from the context never reads it.
ContextHashes::StatCache& ContextHashes::stat_cache() {
    std::lock_guard lock(mutex_);
    if (!cache_) cache_ = std::make_unique<StatCache>(cache_file_);
    return *cache_;
}

// Only files matched in the context itself: for a stage's files, path is under its view.
bool ContextHashes::in_context(const CopySource& source) const {
    if (!store_) return false;
    return without_trailing_slash((context_dir_ / source.rel).lexically_normal().string()) ==
           without_trailing_slash(source.path.lexically_normal().string());
}

std::string ContextHashes::digest(const CopySource& source, const ContextFilter& filter, const HashOptions& options) {
    Stats stats;
    std::string digest;
    if (in_context(source)) {
        CachedFileDigests files(stat_cache(), stats);
        digest = detail::hash_tree(source, filter, options, files);
    } else {
        ReadAndCount files(stats);
        digest = detail::hash_tree(source, filter, options, files);
    }
    std::lock_guard lock(mutex_);
    stats_.files_read += stats.files_read;
    stats_.files_reused += stats.files_reused;
    sources_.insert_or_assign({std::this_thread::get_id(), digest}, Source{source, filter, options});
    return digest;
}

std::optional<std::vector<ListingEntry>> ContextHashes::listing(const std::string& digest) {
    std::optional<Source> source;
    {
        std::lock_guard lock(mutex_);
        const auto it = sources_.find({std::this_thread::get_id(), digest});
        if (it == sources_.end()) return std::nullopt;
        source = it->second;
    }
    std::vector<ListingEntry> entries;
    Stats stats;
    std::string again;
    if (in_context(source->source)) {
        CachedFileDigests files(stat_cache(), stats);
        again = detail::hash_tree(source->source, source->filter, source->options, files, &entries);
    } else {
        ReadAndCount files(stats);
        again = detail::hash_tree(source->source, source->filter, source->options, files, &entries);
    }
    if (again != digest) return std::nullopt;  // the source changed since: the entries would not describe it
    return entries;
}

void ContextHashes::save() {
    std::lock_guard lock(mutex_);
    if (!cache_) return;  // never used: nothing to write
    try {
        cache_->save();
    } catch (const Error&) {
        // Only an optimisation: the next build hashes what it cannot find.
    }
}

ContextHashes::Stats ContextHashes::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

} // namespace strata::builder
