// Saving images: an OCI image layout (optionally also a legacy docker archive, as docker
// 25+'s `docker save` writes) streamed into a tar or written into a directory. Every entry
// is made from the store's blobs and a few JSON documents, in sorted order, with fixed
// times and owners, so the same images always give the same bytes.
#include "store/exchange.hpp"
#include "store/internal.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <archive_entry.h>

#include <algorithm>
#include <fcntl.h>
#include <map>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::store {

namespace {

const std::string blobs_prefix = "blobs/sha256/";

// Where the entries of an export go: a tar stream or a directory. Names are relative,
// '/'-separated; a file is begun with its size, written in chunks, then ended.
class EntrySink {
public:
    virtual ~EntrySink() = default;
    virtual void directory(const std::string& name) = 0;
    virtual void begin_file(const std::string& name, std::int64_t size) = 0;
    virtual void write(const char* data, std::size_t size) = 0;
    virtual void end_file() = 0;
    virtual void finish() = 0;

    void file(const std::string& name, std::string_view data) {
        begin_file(name, static_cast<std::int64_t>(data.size()));
        write(data.data(), data.size());
        end_file();
    }
};

// A tar with docker's conventions for exported images: ustar (pax only where a name
// needs it), owner 0:0 without names, mtime 0, 0644 files and 0755 directories.
class SaveTar final : public EntrySink {
public:
    explicit SaveTar(int fd) : tar_(archive_write_new()) {
        if (!tar_) throw Error("archive_write_new failed");
        if (archive_write_set_format_pax_restricted(tar_.get()) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(tar_.get(), 1) != ARCHIVE_OK ||
            archive_write_open_fd(tar_.get(), fd) != ARCHIVE_OK)
            throw Error("opening the archive for writing: " + detail::archive_message(tar_.get()));
    }

    void directory(const std::string& name) override { header(name + "/", AE_IFDIR, 0755, 0); }
    void begin_file(const std::string& name, std::int64_t size) override { header(name, AE_IFREG, 0644, size); }
    void write(const char* data, std::size_t size) override {
        while (size > 0) {
            const la_ssize_t n = archive_write_data(tar_.get(), data, size);
            if (n <= 0) throw Error("writing the archive: " + detail::archive_message(tar_.get()));
            data += n;
            size -= static_cast<std::size_t>(n);
        }
    }
    void end_file() override {}
    void finish() override {
        if (archive_write_close(tar_.get()) != ARCHIVE_OK)
            throw Error("finishing the archive: " + detail::archive_message(tar_.get()));
    }

private:
    void header(const std::string& name, unsigned type, unsigned perm, std::int64_t size) {
        const detail::ArchiveEntry e(archive_entry_new());
        archive_entry_set_pathname(e.get(), name.c_str());
        archive_entry_set_filetype(e.get(), type);
        archive_entry_set_perm(e.get(), perm);
        archive_entry_set_size(e.get(), size);
        archive_entry_set_mtime(e.get(), 0, 0);
        archive_entry_set_uid(e.get(), 0);
        archive_entry_set_gid(e.get(), 0);
        if (archive_write_header(tar_.get(), e.get()) != ARCHIVE_OK)
            throw Error("writing the archive entry '" + name + "': " + detail::archive_message(tar_.get()));
    }

    detail::ArchiveWriter tar_;
};

// Files and directories under root, written in place (root is new or empty).
class DirSink final : public EntrySink {
public:
    explicit DirSink(fs::path root) : root_(std::move(root)) {}

    void directory(const std::string& name) override { make_dirs(root_ / name); }
    void begin_file(const std::string& name, std::int64_t) override {
        path_ = (root_ / name).string();
        fd_ = Fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (!fd_) throw_errno("create", path_);
    }
    void write(const char* data, std::size_t size) override { write_all(fd_.get(), data, size, path_.c_str()); }
    void end_file() override {
        if (::fsync(fd_.get()) != 0) throw_errno("fsync", path_);
        fd_.reset();
    }
    void finish() override { fsync_path(root_); }

private:
    fs::path root_;
    std::string path_;
    Fd fd_;
};

std::string hex_of(const std::string& digest) { return digest.substr(7); }

// A store name as docker reads it; nullopt for one docker's grammar refuses (kept by
// stores written before names were docker references), which is then exported only
// under ref.name.
std::optional<Reference> docker_reference(const std::string& name) {
    try {
        return with_default_tag(parse_reference(name));
    } catch (const Error&) {
        return std::nullopt;
    }
}

// The platform an image runs on, for its index entry (what docker and containerd select by).
std::optional<json> platform_json(const json& config) {
    const auto os = config.find("os"), arch = config.find("architecture");
    if (os == config.end() || arch == config.end() || !os->is_string() || !arch->is_string()) return std::nullopt;
    json platform = {{"architecture", *arch}, {"os", *os}};
    if (const auto variant = config.find("variant"); variant != config.end() && variant->is_string())
        platform["variant"] = *variant;
    return platform;
}

// Everything an export writes: the blobs (sorted by digest) and the documents (by name).
struct ExportPlan {
    std::map<std::string, Descriptor> blobs;
    std::map<std::string, std::string> documents;
};

// One index.json entry per name (or one without a name). oci-archive: ref.name is the
// familiar name, as the store keeps it ("busybox:latest", what `skopeo ...
// oci-archive:F:busybox:latest` asks for); docker-archive: ref.name is only the tag, as
// docker writes it. Both carry containerd's full name, which docker 25+ loads names from.
json index_entries(const ExportImage& image, const std::optional<json>& platform, ArchiveFormat format) {
    json entries = json::array();
    Descriptor plain = image.manifest;
    plain.annotations.clear();
    const auto entry = [&](const Descriptor& d) {
        json j = to_json(d);
        if (platform) j["platform"] = *platform;
        return j;
    };
    if (image.names.empty()) entries.push_back(entry(plain));
    for (const auto& name : image.names) {
        Descriptor named = plain;
        const auto reference = docker_reference(name);
        const bool tag_only = format == ArchiveFormat::docker && reference && !reference->tag.empty();
        named.annotations[ref_name_annotation] = tag_only ? reference->tag : name;
        if (reference) named.annotations[containerd_name_annotation] = reference->string();
        entries.push_back(entry(named));
    }
    return entries;
}

// docker's manifest.json item and repositories entries: tagged names only (docker leaves
// out names pinned by digest, and refuses names outside its grammar).
void add_docker_entries(const ExportImage& image, const Image& loaded, json& manifest_list, json& repositories) {
    json repo_tags = json::array();
    const auto layers = loaded.layers();
    for (const auto& name : image.names) {
        const auto reference = docker_reference(name);
        if (!reference || reference->tag.empty() || !reference->digest.empty()) continue;
        repo_tags.push_back(reference->familiar_string());
        if (!layers.empty()) repositories[reference->familiar_name()][reference->tag] = hex_of(layers.back().digest);
    }
    json layer_paths = json::array();
    for (const auto& layer : layers) layer_paths.push_back(blobs_prefix + hex_of(layer.digest));
    const Descriptor config = descriptor_from_json(loaded.manifest["config"]);
    manifest_list.push_back({{"Config", blobs_prefix + hex_of(config.digest)},
                             {"RepoTags", repo_tags.empty() ? json(nullptr) : repo_tags},
                             {"Layers", std::move(layer_paths)}});
}

ExportPlan make_plan(const Store& store, const std::vector<ExportImage>& images, ArchiveFormat format) {
    ExportPlan plan;
    json index_list = json::array(), manifest_list = json::array(), repositories = json::object();
    for (const auto& image : images) {
        const Image loaded = store.load_image(image.manifest);
        plan.blobs[image.manifest.digest] = image.manifest;
        const Descriptor config = descriptor_from_json(loaded.manifest["config"]);
        plan.blobs[config.digest] = config;
        for (const auto& layer : loaded.layers()) plan.blobs[layer.digest] = layer;
        for (auto& entry : index_entries(image, platform_json(loaded.config), format)) index_list.push_back(std::move(entry));
        if (format == ArchiveFormat::docker) add_docker_entries(image, loaded, manifest_list, repositories);
    }
    const json index = {{"schemaVersion", 2}, {"mediaType", media::index}, {"manifests", std::move(index_list)}};
    plan.documents["index.json"] = index.dump();
    plan.documents["oci-layout"] = json{{"imageLayoutVersion", "1.0.0"}}.dump();
    if (format == ArchiveFormat::docker) {
        plan.documents["manifest.json"] = manifest_list.dump();
        if (!repositories.empty()) plan.documents["repositories"] = repositories.dump();
    }
    return plan;
}

// Copies a blob into the sink in bounded chunks, checking size and digest on the way: a
// damaged store must not give an archive whose names lie about their content.
void copy_blob(const Store& store, const Descriptor& blob, EntrySink& sink) {
    const std::string path = store.blob_path(blob.digest).string();
    const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_errno("stat", path);
    if (st.st_size != blob.size)
        throw Error("blob '" + blob.digest + "' has " + std::to_string(st.st_size) + " bytes, its descriptor says " +
                    std::to_string(blob.size));
    sink.begin_file(blobs_prefix + hex_of(blob.digest), blob.size);
    std::vector<char> buffer(detail::io_chunk_size);
    Sha256 sha;
    std::int64_t copied = 0;
    for (;;) {
        const std::size_t n = read_some(fd.get(), buffer.data(), buffer.size(), path.c_str());
        if (n == 0) break;
        copied += static_cast<std::int64_t>(n);
        if (copied > blob.size) break;  // grew while being read: reported below
        sha.update(buffer.data(), n);
        sink.write(buffer.data(), n);
    }
    if (copied != blob.size || sha.digest() != blob.digest)
        throw Error("blob '" + blob.digest + "' is corrupt: its content does not match its digest");
    sink.end_file();
}

void write_plan(const Store& store, const ExportPlan& plan, EntrySink& sink) {
    sink.directory("blobs");
    sink.directory("blobs/sha256");
    for (const auto& [digest, blob] : plan.blobs) copy_blob(store, blob, sink);
    for (const auto& [name, data] : plan.documents) sink.file(name, data);  // all sort after "blobs/"
    sink.finish();
}

// A tag the reference names, as the store keeps it; nullopt for an id or digest.
std::optional<std::string> tag_named_by(std::string_view reference, const std::vector<std::pair<std::string, Descriptor>>& tags) {
    if (is_sha256_digest(reference)) return std::nullopt;
    std::string name;
    try {
        name = normalize_tag(reference);
    } catch (const Error&) {
        return std::nullopt;
    }
    for (const auto& [tag, descriptor] : tags)
        if (tag == name) return name;
    return std::nullopt;
}

} // namespace

ArchiveFormat parse_archive_format(std::string_view name) {
    if (name == "oci-archive") return ArchiveFormat::oci;
    if (name == "docker-archive") return ArchiveFormat::docker;
    throw Error("unknown archive format '" + std::string(name) + "': expected oci-archive or docker-archive");
}

std::vector<ExportImage> resolve_for_export(const Store& store, const std::vector<std::string>& references) {
    if (references.empty()) throw Error("no image to save");
    const auto tags = store.tags();
    std::vector<ExportImage> out;
    for (const auto& reference : references) {
        auto found = store.resolve(reference);
        if (!found) throw Error("image '" + reference + "' is not in the store");
        found = store.platform_image(*found);  // an index: its image for this machine, as docker saves
        auto it = std::find_if(out.begin(), out.end(), [&](const ExportImage& e) { return e.manifest.digest == found->digest; });
        if (it == out.end()) {
            Descriptor manifest = *found;
            manifest.annotations.clear();
            out.push_back({std::move(manifest), {}});
            it = std::prev(out.end());
        }
        const auto name = tag_named_by(reference, tags);
        if (name && std::find(it->names.begin(), it->names.end(), *name) == it->names.end()) it->names.push_back(*name);
    }
    return out;
}

void write_image_archive(const Store& store, const std::vector<ExportImage>& images, ArchiveFormat format, int fd) {
    const ExportPlan plan = make_plan(store, images, format);
    SaveTar sink(fd);
    write_plan(store, plan, sink);
}

void write_image_layout(const Store& store, const std::vector<ExportImage>& images, const fs::path& dir) {
    with_context("writing the OCI layout '" + dir.string() + "'", [&] {
        if (fs::exists(dir) && (!fs::is_directory(dir) || !fs::is_empty(dir))) throw Error("not an empty directory");
        make_dirs(dir);
        const ExportPlan plan = make_plan(store, images, ArchiveFormat::oci);
        DirSink sink(dir);
        write_plan(store, plan, sink);
    });
}

} // namespace strata::store
