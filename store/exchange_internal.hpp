#pragma once
// Loading an archive, shared by its two halves (not part of the public API):
// load_stage.cpp streams every file of the tar into the store's staging, hashed and
// verified; load.cpp reads the layout or docker manifest from the staged files, checks
// each image, and only then publishes blobs and tags images.
#include "store/exchange.hpp"
#include "store/internal.hpp"

#include <map>
#include <optional>
#include <string>

namespace strata::store::detail {

// How a staged file's bytes are compressed, found from its magic bytes as the store's
// layer unpacking finds it.
enum class Compression { none, gzip, zstd };

// One regular file of the archive, written to the store's staging while hashed, sealed but
// not yet published (its name in blobs/ is given only once the whole archive is verified).
struct StagedFile {
    BlobWriter writer;
    std::string entry;  // its name in the archive
    Descriptor blob;    // digest and size of its bytes; no media type
    Compression compression = Compression::none;
    // sha256 of its content once decompressed (a layer's diff id); nullopt when its bytes
    // looked compressed but did not decompress (decode_error says why).
    std::optional<std::string> diff_id;
    std::string decode_error;
    std::optional<std::string> content;  // the bytes themselves, for small files (JSON documents)
};

// Every file of an archive, staged, plus its links, by normalised entry name.
class StagedArchive {
public:
    StagedArchive(Store& store, const LoadLimits& limits) : store_(store), limits_(limits) {}

    // Reads the whole tar (any compression) from fd; throws naming the entry at fault.
    void read(int fd, std::string_view shown);

    bool has(const std::string& name) const { return files_.contains(name) || links_.contains(name); }
    // The file a name leads to, through symlinks and hard links; nullptr if there is none.
    StagedFile* find(const std::string& name);
    // The staged blobs/sha256/<hex> of a digest; nullptr if absent.
    StagedFile* blob(const std::string& digest);
    // The file's bytes, which must be a held (small) document.
    const std::string& document(const StagedFile& file) const;
    const LoadLimits& limits() const { return limits_; }

private:
    void read_entry(archive* in, archive_entry* entry);
    void add_name(const std::string& name);
    void stage(archive* in, archive_entry* entry, const std::string& name, bool in_blobs);

    Store& store_;
    LoadLimits limits_;
    std::map<std::string, StagedFile> files_;
    std::map<std::string, std::string> links_;  // name -> the normalised name it points to
    std::size_t held_bytes_ = 0;
};

// "./a//b" -> "a/b": an entry name made relative; absolute names and ".." are refused.
std::string normalised_entry_name(std::string_view raw);

} // namespace strata::store::detail
