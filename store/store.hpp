#pragma once
// The content store: one OCI image layout plus unpacked snapshots and small records.
// Only this module knows the on-disk paths (as umoci's cas/dir does).
//
//   <root>/oci/oci-layout, index.json, blobs/sha256/<hex>   an OCI image layout (skopeo: oci:<root>/oci:<tag>)
//   <root>/snapshots/<chain-hex>/                           one unpacked layer each, overlay format
//   <root>/records/<namespace>/<key>.json                   small JSON records (the build cache)
//   <root>/tmp/session-XXXXXX/ (+ .lock)                    this process's staging, on the same filesystem
//   <root>/lock                                             flock: shared for readers, exclusive for writers of refs
#include "store/compress.hpp"
#include "store/oci.hpp"
#include "store/reference.hpp"
#include "util/fs.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::store {

using json = nlohmann::json;

// Streams a blob into a temp file while hashing it; commit() verifies nothing is
// missing, fsyncs and renames it to blobs/sha256/<digest>. Destruction without
// commit() removes the temp file.
class BlobWriter {
public:
    explicit BlobWriter(const fs::path& tmp_dir, fs::path blobs_dir);
    BlobWriter(BlobWriter&&) noexcept;
    BlobWriter& operator=(BlobWriter&&) noexcept;
    ~BlobWriter();

    void write(const void* data, std::size_t size);
    // If expected_digest is given and differs, throws and stores nothing.
    Descriptor commit(std::string media_type, std::string_view expected_digest = {});
    // commit() in two halves, for callers that make many files durable with one syncfs:
    // seal() verifies and closes the temp file; publish() names it, without any fsync, so
    // the caller must have flushed the temp file's data first.
    Descriptor seal(std::string media_type, std::string_view expected_digest = {});
    void publish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// One entry of index.json: a manifest and its name, if any.
struct IndexEntry {
    Descriptor manifest;
    std::optional<Reference> reference;  // none: untagged, or a name docker's grammar refuses
    std::string name;  // familiar "name:tag"; the annotation as written when it does not parse; "" untagged
};

struct Image {
    Descriptor manifest_descriptor;
    json manifest;
    json config;  // the whole OCI config document
    std::vector<std::string> diff_ids() const;
    std::vector<Descriptor> layers() const;
};

// Owners a user-namespaced container wrote as host ids: host uid+N (gid+N), N < size, is
// recorded as N; ids outside the range stay as they are.
struct IdShift {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint32_t size = 0;
};

struct LayerOptions {
    std::optional<long long> source_date_epoch;  // clamp mtimes when set
    std::optional<IdShift> unshift_ids = std::nullopt;  // a --userns container's layer
    LayerCompression compression = {};  // the blob's codec and level (store/compress.hpp)
};

struct Layer {
    Descriptor descriptor;  // the blob, as LayerOptions::compression made it (annotated so)
    std::string diff_id;    // sha256 of the uncompressed tar
};

class Store {
public:
    // Opens (creating if missing) the store at root.
    explicit Store(fs::path root);

    const fs::path& root() const noexcept { return root_; }
    fs::path layout_dir() const { return root_ / "oci"; }
    // This process's own scratch directory under <root>/tmp (same filesystem as the
    // snapshots, so staging is committed by rename). It is removed when the last copy of
    // this Store goes; one left by a killed strata is removed by the next Store opened.
    const fs::path& tmp_dir() const;

    // --- blobs
    bool has_blob(std::string_view digest) const;
    fs::path blob_path(std::string_view digest) const;  // throws on a malformed digest
    BlobWriter new_blob();
    Descriptor put_blob(std::string_view data, std::string media_type);
    // Reads a whole blob into memory (manifests, configs; never layers) and verifies its hash.
    std::string read_blob(std::string_view digest) const;

    // --- images and refs
    // Writes the config and manifest blobs for these layers; returns the manifest descriptor.
    // `annotations`: the manifest's (OCI's base-image ones, say); none: no annotations member.
    Descriptor write_image(const json& config, const std::vector<Descriptor>& layers,
                           const std::map<std::string, std::string>& annotations = {});
    // The image of a manifest, or of an index's manifest for this machine.
    Image load_image(const Descriptor& manifest) const;
    // The image a reference names (resolve(), then load_image()); throws when none does.
    Image load_image(std::string_view reference) const;
    // A manifest's own descriptor; for an index, its manifest for this machine.
    Descriptor platform_image(const Descriptor& manifest_or_index) const;
    // Names are docker references (store/reference.hpp: "alpine" is docker.io/library/alpine,
    // ":latest" added). index.json keeps the familiar "name:tag" in ref.name (what skopeo's
    // oci:DIR:name:tag matches) and the full name in io.containerd.image.name. A name that
    // moves leaves the image it named; tagging a manifest drops its untagged entry.
    void tag(std::string_view name, const Descriptor& manifest);
    // Lists a manifest in index.json without a name (docker's <none>:<none>, kept until
    // `rmi`) unless some entry already lists it.
    void keep_untagged(const Descriptor& manifest);
    // Removes a name from index.json; returns the manifest it named (none: no such tag).
    std::optional<Descriptor> untag(std::string_view name);
    // Removes every index.json entry of a manifest; returns the names it had.
    std::vector<std::string> remove_from_index(std::string_view digest);
    // A name ("alpine", "alpine:3", "docker.io/library/alpine", "alpine@sha256:<hex>" whose
    // repository names that manifest, or whose pull stored it: registry_digests.hpp),
    // "sha256:<hex>", or a unique prefix (>= 4 hex digits)
    // of a manifest digest. Throws for a malformed reference or an ambiguous prefix.
    std::optional<Descriptor> resolve(std::string_view reference) const;
    // The same over entries already read (index_entries()), for a command that resolves many.
    static std::optional<Descriptor> resolve(std::string_view reference, const std::vector<IndexEntry>& entries);
    std::vector<std::pair<std::string, Descriptor>> tags() const;  // familiar "name:tag", sorted
    // index.json's entries in order: all, or those of one manifest digest.
    std::vector<IndexEntry> index_entries(std::string_view digest = {}) const;

    // --- layers and snapshots
    // Tars `dir` (overlay format: 0:0 char devices are deletions, trusted.overlay.opaque
    // marks opaque dirs) deterministically, gzips it and stores the blob in one pass.
    Layer write_layer(const fs::path& dir, const LayerOptions& options = {});
    fs::path snapshot_dir(std::string_view chain_id) const;
    bool has_snapshot(std::string_view chain_id) const;
    // An empty directory on the snapshots filesystem, to be filled and committed.
    TempDir new_snapshot_staging() const;
    // Renames staging into place as chain_id's snapshot (if one exists already, staging is dropped).
    fs::path commit_snapshot(TempDir&& staging, std::string_view chain_id);
    // A build step's output in one go: tars staging into a layer blob, then makes blob and
    // snapshot durable with a single syncfs before naming either (the step's one sync; the
    // directory entries become durable with the next sync, so a crash can lose them but
    // never leave a name whose content is not on disk). Returns the layer and the new chain id.
    struct CommittedLayer {
        Layer layer;
        std::string chain_id;
    };
    CommittedLayer commit_layer(TempDir&& staging, std::string_view parent_chain_id, const LayerOptions& options = {});
    // Unpacks any missing layer of the image; returns snapshot dirs bottom layer first.
    std::vector<fs::path> ensure_snapshots(const Image& image);
    // The same layer on another parent (COPY --link): a snapshot for chain_id with the files
    // of from_chain_id's snapshot, which holds the same diff. Hard links for all but
    // directories (made with their owner, mode, xattrs and times): no data is copied, which
    // unpacking the blob again would do. Committed as commit_snapshot does.
    fs::path clone_snapshot(std::string_view from_chain_id, std::string_view chain_id);

    // --- volumes (strata run -v NAME:/path): <root>/volumes/<name>/_data, as docker keeps
    // them; made on first use; never touched by prune. Throws for a name docker refuses.
    fs::path volume_dir(std::string_view name);

    // --- records (the build cache)
    std::optional<json> get_record(std::string_view ns, std::string_view key) const;
    void put_record(std::string_view ns, std::string_view key, const json& record);

    FileLock lock(FileLock::Mode mode) const { return FileLock(root_ / "lock", mode); }
    // Flushes the store's filesystem (syncfs): every name and byte written so far is durable.
    void sync() const;

private:
    fs::path rename_snapshot(TempDir&& staging, std::string_view chain_id);  // no sync
    class Session;
    void start_session();  // sweeps abandoned sessions, then opens ours
    fs::path root_;
    std::shared_ptr<Session> session_;
};

// Removes the session directories under tmp_root whose owner is gone (their lock file
// is not held). Returns how many were removed.
std::size_t remove_abandoned_sessions(const fs::path& tmp_root);

// How unpack_layer treats whiteout entries.
enum class WhiteoutMode {
    // Into an empty snapshot directory, kept in overlay format: `.wh.<name>` becomes a
    // 0:0 char device, `.wh..wh..opq` the trusted.overlay.opaque=y xattr (needs root).
    overlay,
    // Onto a directory that already holds the layers below (flattening): a whiteout
    // deletes what it names, an opaque marker empties its directory of older entries.
    apply,
};

// Unpacks a layer blob (gzip, zstd or plain tar, detected from its bytes; media_type
// must be a layer type or empty) into target. Returns the layer's diff id (sha256 of the
// uncompressed tar). A hostile entry (absolute, "..", through a symlink) throws an Error
// naming it; target may then hold part of the layer, so unpack into a staging dir.
std::string unpack_layer(const fs::path& blob, std::string_view media_type, const fs::path& target,
                         WhiteoutMode mode = WhiteoutMode::overlay);

// ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n)).
std::string next_chain_id(std::string_view parent_chain_id, std::string_view diff_id);
std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids);

} // namespace strata::store
