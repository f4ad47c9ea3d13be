// The OCI image layout: oci-layout, index.json (names as annotations, resolved as docker
// resolves references), and the image (manifest + config) documents.
#include "store/platform.hpp"
#include "store/registry_digests.hpp"
#include "store/store.hpp"
#include "store/internal.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <unistd.h>

namespace strata::store {

namespace {

fs::path index_path(const Store& s) { return s.layout_dir() / "index.json"; }

json empty_index() {
    return json{{"schemaVersion", 2}, {"mediaType", media::index}, {"manifests", json::array()}};
}

json read_index(const Store& s) {
    const fs::path path = index_path(s);
    return with_context("reading '" + path.string() + "'", [&] {
        json index = json::parse(read_file(path), nullptr, false);
        if (index.is_discarded() || !index.is_object()) throw Error("not a JSON object");
        const auto manifests = index.find("manifests");
        if (manifests == index.end() || !manifests->is_array()) throw Error("no manifests array");
        return index;
    });
}

// A SAX handler that hands over index.json's "manifests" entries one at a time, so that
// reading a large index never holds its whole document: first-touch memory is most of what
// `strata images` costs over 1,000 images on a virtual machine where a page fault is dear.
class ManifestEntries {
public:
    explicit ManifestEntries(const std::function<bool(const json&)>& each) : each_(each) {}

    bool null() { return value(nullptr); }
    bool boolean(bool v) { return value(v); }
    bool number_integer(json::number_integer_t v) { return value(v); }
    bool number_unsigned(json::number_unsigned_t v) { return value(v); }
    bool number_float(json::number_float_t v, const std::string&) { return value(v); }
    bool string(std::string& v) { return value(std::move(v)); }
    bool binary(json::binary_t&) { return value(nullptr); }
    bool start_object(std::size_t) { return open(json::object()); }
    bool start_array(std::size_t) { return open(json::array()); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(std::string& k) {
        if (depth_ == 1) top_key_ = k;
        else key_ = k;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) { throw Error(e.what()); }

    void finish() const {
        if (!saw_object_) throw Error("not a JSON object");
        if (!saw_manifests_) throw Error("no manifests array");
    }

private:
    bool in_manifests() const { return manifests_open_ && depth_ >= 2; }

    bool value(json v) {
        if (depth_ == 0) throw Error("not a JSON object");
        if (depth_ == 1 && top_key_ == "manifests") throw Error("no manifests array");
        if (!in_manifests()) return true;
        if (stack_.empty()) return each_(v);  // a manifests element that is not an object
        place(std::move(v));
        return true;
    }

    bool open(json container) {
        ++depth_;
        if (depth_ == 1) {
            if (!container.is_object()) throw Error("not a JSON object");
            saw_object_ = true;
        } else if (depth_ == 2 && top_key_ == "manifests") {
            if (!container.is_array()) throw Error("no manifests array");
            manifests_open_ = saw_manifests_ = true;
        } else if (in_manifests()) {
            if (stack_.empty()) {
                entry_ = std::move(container);
                stack_.push_back(&entry_);
            } else {
                stack_.push_back(place(std::move(container)));
            }
        }
        return true;
    }

    bool close() {
        bool go_on = true;
        if (in_manifests() && !stack_.empty()) {
            stack_.pop_back();
            if (stack_.empty()) go_on = each_(entry_);
        } else if (depth_ == 2 && manifests_open_) {
            manifests_open_ = false;
        }
        --depth_;
        return go_on;
    }

    // Pointers into the entry stay valid: a container only grows while it is the innermost one.
    json* place(json v) {
        json& parent = *stack_.back();
        if (parent.is_object()) return &(parent[key_] = std::move(v));
        parent.push_back(std::move(v));
        return &parent.back();
    }

    const std::function<bool(const json&)>& each_;
    int depth_ = 0;
    std::string top_key_, key_;
    bool saw_object_ = false, saw_manifests_ = false, manifests_open_ = false;
    json entry_;
    std::vector<json*> stack_;
};

// The full name is in io.containerd.image.name (as containerd and docker write it);
// ref.name holds the familiar "name:tag", which skopeo's oci:DIR:name:tag matches and which
// is all that stores written before the full name existed (and skopeo copies) carry.
IndexEntry index_entry(Descriptor d) {
    IndexEntry e;
    for (const char* key : {containerd_name_annotation, ref_name_annotation}) {
        const auto it = d.annotations.find(key);
        if (it == d.annotations.end()) continue;
        try {
            e.reference = with_default_tag(parse_reference(it->second));
        } catch (const Error&) {
            if (e.name.empty()) e.name = it->second;  // shown and matched as written
            continue;
        }
        e.name = e.reference->familiar_string();
        break;
    }
    e.manifest = std::move(d);
    return e;
}

// Calls each() with every index.json entry, in order, until it returns false.
void visit_index(const Store& s, const std::function<bool(IndexEntry&&)>& each) {
    const fs::path path = index_path(s);
    with_context("reading '" + path.string() + "'", [&] {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw_errno("open", path.string());
        const std::function<bool(const json&)> entry = [&](const json& e) {
            return each(index_entry(descriptor_from_json(e)));
        };
        ManifestEntries handler(entry);
        if (json::sax_parse(in, &handler)) handler.finish();  // false: each() stopped it early
    });
}

bool names(const IndexEntry& e, const Reference& ref) { return e.reference && e.reference->string() == ref.string(); }

// An entry whose name docker's grammar refuses (older strata took "Name" as typed).
bool names_as_written(const IndexEntry& e, std::string_view text) {
    return !e.reference && !e.name.empty() && (e.name == text || e.name == std::string(text) + ":" + default_tag);
}

// Rewrites index.json without the entries `drop` selects, under the store lock.
template <typename Drop>
void remove_index_entries(const Store& s, Drop drop) {
    const FileLock guard = s.lock(FileLock::Mode::exclusive);
    json index = read_index(s);
    json kept = json::array();
    for (const auto& entry : index["manifests"])
        if (!drop(index_entry(descriptor_from_json(entry)))) kept.push_back(entry);
    if (kept.size() == index["manifests"].size()) return;
    index["manifests"] = std::move(kept);
    write_file_atomic(index_path(s), index.dump());
}

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A unique prefix (>= 4 hex digits) of a manifest digest, as docker takes short ids.
class IdPrefix {
public:
    explicit IdPrefix(std::string_view prefix)
        : prefix_(prefix), usable_(prefix.size() >= 4 && prefix.size() <= 64 && is_hex(prefix)) {}
    void offer(const Descriptor& d) {
        if (!usable_ || !std::string_view(d.digest).substr(7).starts_with(prefix_)) return;
        if (!found_) found_ = d;
        else if (found_->digest != d.digest && other_.empty()) other_ = d.digest;
    }
    std::optional<Descriptor> result() const {
        if (!other_.empty())
            throw Error("image id prefix '" + std::string(prefix_) + "' is ambiguous: " + found_->digest + ", " + other_);
        return found_;
    }

private:
    std::string_view prefix_;
    bool usable_;
    std::optional<Descriptor> found_;
    std::string other_;
};

// Resolves a reference over index entries that for_each(visit) hands out in order until
// visit returns false. One pass: a name wins over a name as an older strata wrote it, which
// wins over an id prefix (docker too reads "abcd" as a name first).
template <typename ForEach>
std::optional<Descriptor> resolve_in(std::string_view reference, const ForEach& for_each) {
    const auto find = [&](const auto& matches) -> std::optional<Descriptor> {
        std::optional<Descriptor> found;
        for_each([&](const IndexEntry& e) {
            if (matches(e)) found = e.manifest;
            return !found;
        });
        return found;
    };
    if (is_sha256_digest(reference) || is_image_id(reference)) {
        const std::string digest = is_image_id(reference) ? "sha256:" + std::string(reference) : std::string(reference);
        return find([&](const IndexEntry& e) { return e.manifest.digest == digest; });
    }
    std::optional<Reference> ref;
    std::optional<Error> malformed;
    try {
        ref = with_default_tag(parse_reference(reference));
    } catch (const Error& e) {
        malformed = e;  // still possibly a name an older strata wrote as typed
    }
    // name@digest: that manifest, if the name's repository holds it (as docker checks).
    if (ref && !ref->digest.empty())
        return find([&](const IndexEntry& e) {
            return e.manifest.digest == ref->digest && e.reference && e.reference->name() == ref->name();
        });
    std::optional<Descriptor> named, legacy;
    IdPrefix prefix(reference);
    for_each([&](const IndexEntry& e) {
        if (ref && names(e, *ref)) named = e.manifest;
        else if (!legacy && names_as_written(e, reference)) legacy = e.manifest;
        else prefix.offer(e.manifest);
        return !named;
    });
    if (named) return named;
    if (legacy) return legacy;
    if (auto by_id = prefix.result()) return by_id;
    if (malformed) throw *malformed;
    return std::nullopt;
}

// name@digest where the digest is the registry's, which the pull stored under a manifest
// of its own (registry_digests.hpp): that manifest, while index.json still lists it.
template <typename ForEach>
std::optional<Descriptor> resolve_pulled_digest(const Store& s, std::string_view reference, const ForEach& for_each) {
    std::optional<Reference> ref;
    try {
        ref = parse_reference(reference);
    } catch (const Error&) {
        return std::nullopt;
    }
    if (ref->digest.empty()) return std::nullopt;
    const auto stored = registry_digest_manifest(s, ref->name(), ref->digest);
    if (!stored) return std::nullopt;
    std::optional<Descriptor> found;
    for_each([&](const IndexEntry& e) {
        if (e.manifest.digest == *stored) found = e.manifest;
        return !found;
    });
    return found;
}

json parse_document(const std::string& bytes, const std::string& what) {
    json doc = json::parse(bytes, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) throw Error(what + " is not a JSON object");
    return doc;
}

// Reads a blob named by a descriptor, checking its size as well as its digest.
std::string read_described_blob(const Store& s, const Descriptor& d) {
    std::string bytes = s.read_blob(d.digest);
    if (static_cast<std::int64_t>(bytes.size()) != d.size)
        throw Error("blob '" + d.digest + "' has size " + std::to_string(bytes.size()) + ", descriptor says " +
                    std::to_string(d.size));
    return bytes;
}

std::vector<std::string> config_diff_ids(const json& config) {
    const auto rootfs = config.find("rootfs");
    if (rootfs == config.end() || !rootfs->is_object()) return {};
    const auto ids = rootfs->find("diff_ids");
    if (ids == rootfs->end() || !ids->is_array()) throw Error("config rootfs.diff_ids is not an array");
    std::vector<std::string> out;
    for (const auto& id : *ids) {
        if (!id.is_string() || !is_sha256_digest(id.get<std::string>()))
            throw Error("config rootfs.diff_ids holds a malformed digest");
        out.push_back(id.get<std::string>());
    }
    return out;
}

} // namespace

Store::Store(fs::path root) : root_(std::move(root)) {
    with_context("opening store '" + root_.string() + "'", [&] {
        make_dirs(root_);
        make_dirs(layout_dir() / "blobs" / "sha256");
        make_dirs(root_ / "tmp");
        make_dirs(root_ / "snapshots");
        make_dirs(root_ / "records");
        const FileLock guard = lock(FileLock::Mode::exclusive);
        if (!fs::exists(layout_dir() / "oci-layout"))
            write_file_atomic(layout_dir() / "oci-layout", json{{"imageLayoutVersion", "1.0.0"}}.dump());
        if (!fs::exists(index_path(*this))) write_file_atomic(index_path(*this), empty_index().dump());
    });
    start_session();
}

void Store::tag(std::string_view name, const Descriptor& manifest) {
    const Reference ref = with_default_tag(parse_reference(name));
    if (!ref.digest.empty())
        throw Error("refusing to create a tag with a digest reference: '" + std::string(name) + "'");
    if (!is_sha256_digest(manifest.digest)) throw Error("cannot tag '" + ref.familiar_string() + "': malformed digest");
    Descriptor tagged = manifest;  // other annotations (skopeo's, say) stay; the name is ours
    tagged.annotations[ref_name_annotation] = ref.familiar_string();
    tagged.annotations[containerd_name_annotation] = ref.string();
    const json tagged_json = to_json(tagged);
    const FileLock guard = lock(FileLock::Mode::exclusive);
    json index = read_index(*this);
    json kept = json::array();
    bool present = false;
    for (const auto& entry : index["manifests"]) {
        const IndexEntry e = index_entry(descriptor_from_json(entry));
        if (names(e, ref) && entry != tagged_json) continue;  // the name moves
        if (e.name.empty() && e.manifest.digest == manifest.digest) continue;  // no longer untagged
        present = present || entry == tagged_json;
        kept.push_back(entry);
    }
    if (!present) kept.push_back(tagged_json);
    if (kept == index["manifests"]) return;  // already tagged so: nothing to write
    index["manifests"] = std::move(kept);
    write_file_atomic(index_path(*this), index.dump());
}

void Store::keep_untagged(const Descriptor& manifest) {
    if (!is_sha256_digest(manifest.digest)) throw Error("cannot keep image '" + manifest.digest + "': malformed digest");
    Descriptor entry = manifest;  // an archive's own names do not come along
    entry.annotations.erase(ref_name_annotation);
    entry.annotations.erase(containerd_name_annotation);
    const FileLock guard = lock(FileLock::Mode::exclusive);
    json index = read_index(*this);
    for (const auto& listed : index["manifests"])
        if (descriptor_from_json(listed).digest == manifest.digest) return;
    index["manifests"].push_back(to_json(entry));
    write_file_atomic(index_path(*this), index.dump());
}

std::optional<Descriptor> Store::untag(std::string_view name) {
    const Reference ref = with_default_tag(parse_reference(name));
    std::optional<Descriptor> removed;
    remove_index_entries(*this, [&](const IndexEntry& e) {
        if (!names(e, ref)) return false;
        removed = e.manifest;
        return true;
    });
    return removed;
}

std::vector<std::string> Store::remove_from_index(std::string_view digest) {
    std::vector<std::string> names;
    remove_index_entries(*this, [&](const IndexEntry& e) {
        if (e.manifest.digest != digest) return false;
        if (!e.name.empty()) names.push_back(e.name);
        return true;
    });
    return names;
}

std::vector<IndexEntry> Store::index_entries(std::string_view digest) const {
    std::vector<IndexEntry> out;
    visit_index(*this, [&](IndexEntry&& e) {
        if (digest.empty() || e.manifest.digest == digest) out.push_back(std::move(e));
        return true;
    });
    return out;
}

std::vector<std::pair<std::string, Descriptor>> Store::tags() const {
    std::vector<std::pair<std::string, Descriptor>> out;
    for (auto& e : index_entries())
        if (!e.name.empty()) out.emplace_back(std::move(e.name), std::move(e.manifest));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

std::optional<Descriptor> Store::resolve(std::string_view reference) const {
    const auto each = [&](const auto& visit) { visit_index(*this, [&](IndexEntry&& e) { return visit(e); }); };
    if (auto found = resolve_in(reference, each)) return found;
    return resolve_pulled_digest(*this, reference, each);
}

std::optional<Descriptor> Store::resolve(std::string_view reference, const std::vector<IndexEntry>& entries) {
    return resolve_in(reference, [&](const auto& visit) {
        for (const auto& e : entries)
            if (!visit(e)) return;
    });
}

void Store::sync() const {
    Fd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_errno("open", root_.string());
    if (::syncfs(fd.get()) != 0) throw_errno("syncfs", root_.string());
}

Descriptor Store::write_image(const json& config, const std::vector<Descriptor>& layers,
                              const std::map<std::string, std::string>& annotations) {
    if (!config.is_object()) throw Error("image config is not a JSON object");
    const auto diff_ids = config_diff_ids(config);
    if (diff_ids.size() != layers.size())
        throw Error("image config lists " + std::to_string(diff_ids.size()) + " diff ids for " +
                    std::to_string(layers.size()) + " layers");
    // Layers committed by commit_layer() may have names not yet on disk: make them durable
    // before a manifest that is on disk refers to them.
    sync();
    // nlohmann::json objects are std::maps: dump() gives sorted keys, so equal documents hash equally.
    const Descriptor config_desc = put_blob(config.dump(), media::config);
    json layer_list = json::array();
    for (const auto& layer : layers) layer_list.push_back(to_json(layer));
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", media::manifest},
                     {"config", to_json(config_desc)},
                     {"layers", std::move(layer_list)}};
    if (!annotations.empty()) manifest["annotations"] = annotations;
    return put_blob(manifest.dump(), media::manifest);
}

// An index in index.json (skopeo copy --all, a pulled manifest list) stands for its image
// for this machine, as docker's containerd store runs one.
Descriptor Store::platform_image(const Descriptor& index_desc) const {
    Descriptor chosen = index_desc;
    for (int depth = 0; is_index_media_type(chosen.media_type); ++depth) {
        if (depth == 4) throw Error("indexes nested more than 4 deep");
        const json index = parse_document(read_described_blob(*this, chosen), "index");
        const Platform host = host_platform();
        const auto manifest = platform_manifest(index, host);
        if (!manifest) throw Error("index " + chosen.digest + " holds no image for " + host.string());
        chosen = *manifest;
    }
    return chosen;
}

Image Store::load_image(std::string_view reference) const {
    const auto descriptor = resolve(reference);
    if (!descriptor) throw Error("image '" + std::string(reference) + "' is not in the store");
    return load_image(*descriptor);
}

Image Store::load_image(const Descriptor& descriptor) const {
    return with_context("loading image '" + descriptor.digest + "'", [&] {
        const Descriptor manifest_desc = platform_image(descriptor);
        if (manifest_desc.media_type != media::manifest)
            throw Error("unsupported manifest media type '" + manifest_desc.media_type + "'");
        Image image;
        image.manifest_descriptor = manifest_desc;
        image.manifest = parse_document(read_described_blob(*this, manifest_desc), "manifest");
        const json& m = image.manifest;
        if (!m.contains("schemaVersion") || m["schemaVersion"] != 2) throw Error("manifest schemaVersion is not 2");
        if (m.contains("mediaType") && m["mediaType"] != media::manifest)
            throw Error("manifest mediaType disagrees with its descriptor");
        if (!m.contains("config")) throw Error("manifest has no config");
        const Descriptor config_desc = descriptor_from_json(m["config"]);
        if (config_desc.media_type != media::config)
            throw Error("unsupported config media type '" + config_desc.media_type + "'");
        const auto layers = image.layers();
        for (const auto& layer : layers) {
            if (!detail::is_oci_layer_media_type(layer.media_type))
                throw Error("unsupported layer media type '" + layer.media_type + "'");
        }
        image.config = parse_document(read_described_blob(*this, config_desc), "config");
        if (image.diff_ids().size() != layers.size())
            throw Error("config lists " + std::to_string(image.diff_ids().size()) + " diff ids for " +
                        std::to_string(layers.size()) + " layers");
        return image;
    });
}

std::vector<std::string> Image::diff_ids() const { return config_diff_ids(config); }

std::vector<Descriptor> Image::layers() const {
    const auto it = manifest.find("layers");
    if (it == manifest.end() || !it->is_array()) throw Error("manifest has no layers array");
    std::vector<Descriptor> out;
    for (const auto& layer : *it) out.push_back(descriptor_from_json(layer));
    return out;
}

} // namespace strata::store
