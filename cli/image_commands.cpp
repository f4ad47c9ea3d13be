// strata inspect, history, tag and rmi: docker's image commands over index.json.
//
// rmi follows docker's rules: a name is untagged; the image goes when its last name does
// (or when it is named by id), unless a kept container stands on it (-f overrides: the
// container keeps its layers alive as a GC root). Deleted images' blobs and snapshots are
// then removed by the store's garbage collection, run as `strata prune` runs it (it also
// takes any other garbage); when a build or run holds the store, that is left to prune.
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "store/containers.hpp"
#include "store/gc.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <iostream>
#include <set>

namespace strata::cli {

namespace {

using store::json;

ordered_json to_ordered(const json& value) { return ordered_json::parse(value.dump()); }

// A string member of a JSON object, "" when absent or not a string (configs come from anywhere).
std::string string_field(const json& object, const char* key) {
    if (!object.is_object()) return "";
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> names_of(const std::vector<store::IndexEntry>& entries, const std::string& digest) {
    std::vector<std::string> names;
    for (const auto& e : entries)
        if (e.manifest.digest == digest && !e.name.empty()) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    return names;
}

// ----- inspect

// docker's image inspect fields, in its order, plus the manifest as stored.
ordered_json inspect_document(const store::Store& store, const std::vector<store::IndexEntry>& entries,
                              const store::Descriptor& manifest) {
    const store::Image image = store.load_image(manifest);
    const json& config = image.config;
    ordered_json repo_digests = ordered_json::array();
    std::set<std::string> repositories;
    for (const auto& e : entries)
        if (e.manifest.digest == manifest.digest && e.reference) repositories.insert(e.reference->familiar_name());
    for (const auto& repository : repositories) repo_digests.push_back(repository + "@" + manifest.digest);
    long long size = 0;
    for (const auto& layer : image.layers()) size += layer.size;
    const auto text = [&](const char* key) { return string_field(config, key); };

    ordered_json doc;
    doc["Id"] = manifest.digest;
    doc["RepoTags"] = names_of(entries, manifest.digest);
    doc["RepoDigests"] = std::move(repo_digests);
    doc["Parent"] = "";
    doc["Comment"] = text("comment");
    doc["Created"] = text("created");
    doc["Author"] = text("author");
    doc["Config"] = config.contains("config") && config["config"].is_object() ? to_ordered(config["config"]) : ordered_json::object();
    doc["Architecture"] = text("architecture");
    if (config.contains("variant")) doc["Variant"] = text("variant");
    doc["Os"] = text("os");
    doc["Size"] = size;
    const auto rootfs = config.find("rootfs");
    doc["RootFS"] = {{"Type", rootfs != config.end() ? string_field(*rootfs, "type") : "layers"}, {"Layers", image.diff_ids()}};
    doc["Descriptor"] = {{"mediaType", manifest.media_type}, {"digest", manifest.digest}, {"size", manifest.size}};
    doc["Manifest"] = to_ordered(image.manifest);
    return doc;
}

struct InspectFlags {
    std::vector<std::string> images;
    std::string format;
};

void inspect(const InspectFlags& flags, GlobalOptions& global) {
    const store::Store store(global.root);
    const std::vector<store::IndexEntry> entries = store.index_entries();  // read once for every image's names
    const std::string format = flags.format == "json" ? "" : flags.format;
    const std::optional<Template> tmpl = format.empty() ? std::nullopt : std::optional<Template>(Template(format));
    ordered_json documents = ordered_json::array();
    // As docker: the images found are shown, each missing one is an error line and fails the status.
    for (const auto& reference : flags.images) {
        try {
            const auto manifest = store::Store::resolve(reference, entries);
            if (!manifest) throw Error("no such image: '" + reference + "'");
            ordered_json doc = inspect_document(store, entries, *manifest);
            if (tmpl) std::cout << tmpl->render(doc) << "\n";
            else documents.push_back(std::move(doc));
        } catch (const Error& e) {
            std::cerr << "strata: error: " << e.what() << "\n";
            global.exit_code = 1;
        }
    }
    if (!tmpl) std::cout << go_json(documents, 4) << "\n";
}

// ----- history

// Go's stringutils.Ellipsis: at most `width` characters, the last one "…" when cut.
std::string ellipsis(const std::string& s, std::size_t width) {
    std::size_t chars = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
        if (++chars == width) {
            std::size_t end = i + 1;
            while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
            return end == s.size() ? s : s.substr(0, i) + "\xE2\x80\xA6";
        }
    }
    return s;
}

struct HistoryFlags {
    std::string image;
    bool no_trunc = false;
    bool quiet = false;
    bool human = true;  // false (-H=false): sizes in bytes, times as RFC 3339, as docker prints them
    std::string format;
};

// The config's history, oldest first; one entry per layer when it has none.
json history_entries(const store::Image& image) {
    const auto it = image.config.find("history");
    if (it != image.config.end() && it->is_array() && !it->empty()) return *it;
    json made = json::array();
    for (std::size_t i = 0; i < image.layers().size(); ++i) made.push_back(json::object());
    return made;
}

std::vector<ordered_json> history_rows(const store::Image& image, const HistoryFlags& flags) {
    const json entries = history_entries(image);
    const auto layers = image.layers();
    const long long now = now_seconds();
    std::vector<ordered_json> rows;
    std::size_t layer = 0;
    for (const auto& entry : entries) {
        const bool empty = entry.is_object() && entry.contains("empty_layer") && entry["empty_layer"] == true;
        const long long size = !empty && layer < layers.size() ? layers[layer++].size : 0;
        std::string created_by = string_field(entry, "created_by");
        std::replace(created_by.begin(), created_by.end(), '\t', ' ');
        const auto created = parse_rfc3339(string_field(entry, "created"));
        const std::string created_at = created ? local_rfc3339(*created) : "N/A";
        const std::string created_since = !created ? "N/A" : flags.human ? human_duration(now - *created) + " ago" : created_at;
        rows.push_back(ordered_json{{"Comment", string_field(entry, "comment")},
                                    {"CreatedAt", created_at},
                                    {"CreatedBy", flags.no_trunc ? created_by : ellipsis(created_by, 45)},
                                    {"CreatedSince", created_since},
                                    {"ID", "<missing>"},
                                    {"Size", flags.human ? format_bytes(size) : std::to_string(size)}});
    }
    std::reverse(rows.begin(), rows.end());  // newest first
    // Only the image itself is an image here: the steps below it have no id of their own.
    if (!rows.empty()) rows.front()["ID"] = short_id(image.manifest_descriptor.digest, flags.no_trunc);
    return rows;
}

void history(const HistoryFlags& flags, GlobalOptions& global) {
    const store::Store store(global.root);
    const auto manifest = store.resolve(flags.image);
    if (!manifest) throw Error("no such image: '" + flags.image + "'");
    const store::Image image = store.load_image(*manifest);
    static const ordered_json headers = {{"Comment", "COMMENT"}, {"CreatedAt", "CREATED AT"}, {"CreatedBy", "CREATED BY"},
                                         {"CreatedSince", "CREATED"}, {"ID", "IMAGE"},        {"Size", "SIZE"}};
    std::string format = flags.format;
    if (flags.quiet && (format.empty() || format == "table")) format = "{{.ID}}";
    std::cout << format_rows(format, history_rows(image, flags), headers,
                             "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}");
}

// ----- tag

void tag(const std::string& source, const std::string& target, const GlobalOptions& global) {
    store::Store store(global.root);
    // No collection may remove the image between finding it and naming it again.
    const store::GcLock naming = hold_store_for_use(store);
    const auto manifest = store.resolve(source);
    if (!manifest) throw Error("no such image: '" + source + "'");
    store.tag(target, *manifest);
}

// ----- rmi

struct RmiFlags {
    std::vector<std::string> images;
    bool force = false;
    bool no_prune = false;
};

// True when `reference` names a tag (rather than an id, a digest, or name@digest).
bool names_a_tag(const std::vector<store::IndexEntry>& entries, const std::string& reference) {
    if (is_sha256_digest(reference) || store::is_image_id(reference)) return false;
    std::optional<store::Reference> ref;
    try {
        ref = store::with_default_tag(store::parse_reference(reference));
    } catch (const Error&) {
        return false;
    }
    return ref->digest.empty() && std::any_of(entries.begin(), entries.end(), [&](const store::IndexEntry& e) {
               return e.reference && e.reference->string() == ref->string();
           });
}

std::vector<std::string> containers_on(const store::Store& store, const std::string& digest) {
    std::vector<std::string> names;
    for (const auto& c : store::list_containers(store))
        if (c.image.digest == digest) names.push_back(c.name);
    return names;
}

class Remover {
public:
    Remover(store::Store& store, const RmiFlags& flags) : store_(store), flags_(flags) {}

    void remove(const std::string& reference) {
        const auto manifest = store_.resolve(reference);
        if (!manifest) throw Error("no such image: '" + reference + "'");
        const auto entries = store_.index_entries(manifest->digest);  // a name given resolved to one of these
        const auto names = names_of(entries, manifest->digest);
        const auto containers = containers_on(store_, manifest->digest);
        const std::string id = short_id(manifest->digest, false);
        if (names_a_tag(entries, reference)) {
            if (!flags_.force && names.size() == 1 && !containers.empty())
                throw Error("conflict: unable to remove repository reference '" + reference + "' (must force) - container " +
                            containers.front() + " is using its referenced image " + id);
            store_.untag(reference);
            std::cout << "Untagged: " << store::normalize_tag(reference) << "\n";
            if (names.size() > 1) return;  // other names keep the image
        } else {
            if (!flags_.force && names.size() > 1)
                throw Error("conflict: unable to delete " + id + " (must be forced) - image is referenced in multiple repositories");
            if (!flags_.force && !containers.empty())
                throw Error("conflict: unable to delete " + id + " (must be forced) - image is being used by stopped container " +
                            containers.front());
        }
        remember_layers(*manifest);
        for (const auto& name : store_.remove_from_index(manifest->digest)) std::cout << "Untagged: " << name << "\n";
        std::cout << "Deleted: " << manifest->digest << "\n";
        deleted_any_ = true;
    }

    // The deleted images' objects go with the garbage collection (unless --no-prune, or a
    // build or run holds the store: then they wait for `strata prune`).
    void collect() {
        if (!deleted_any_ || flags_.no_prune) return;
        struct StoreBusy {};
        store::PruneOptions options;
        options.on_wait = [] { throw StoreBusy{}; };  // never wait for a build to finish
        try {
            store::prune(store_, options);
        } catch (const StoreBusy&) {
            std::cerr << "strata: a build or run is using the store: the deleted images' blobs are left for `strata prune`\n";
            return;
        }
        for (const auto& layer : layers_)
            if (!store_.has_blob(layer)) std::cout << "Deleted: " << layer << "\n";
    }

private:
    void remember_layers(const store::Descriptor& manifest) {
        try {
            for (const auto& layer : store_.load_image(manifest).layers())
                if (std::find(layers_.begin(), layers_.end(), layer.digest) == layers_.end()) layers_.push_back(layer.digest);
        } catch (const Error&) {
            // an index of platforms or a damaged image: collected all the same, just not listed
        }
    }

    store::Store& store_;
    const RmiFlags& flags_;
    std::vector<std::string> layers_;
    bool deleted_any_ = false;
};

void rmi(const RmiFlags& flags, GlobalOptions& global) {
    store::Store store(global.root);
    Remover remover(store, flags);
    for (const auto& reference : flags.images) {
        try {
            remover.remove(reference);
        } catch (const Error& e) {
            std::cerr << "strata: error: " << e.what() << "\n";
            global.exit_code = 1;
        }
    }
    remover.collect();
}

} // namespace

void add_image_commands(CLI::App& app, GlobalOptions& global) {
    auto inspect_flags = std::make_shared<InspectFlags>();
    auto* inspect_cmd = app.add_subcommand("inspect", "Show images' configs and manifests as JSON");
    inspect_cmd->add_option("IMAGE", inspect_flags->images, "Name, id or digest")->required();
    inspect_cmd->add_option("-f,--format", inspect_flags->format, "json, or a Go template: '{{.Id}}'");
    inspect_cmd->callback([inspect_flags, &global] { inspect(*inspect_flags, global); });

    auto history_flags = std::make_shared<HistoryFlags>();
    auto* history_cmd = app.add_subcommand("history", "Show the history of an image, newest step first");
    history_cmd->add_option("IMAGE", history_flags->image, "Name, id or digest")->required();
    history_cmd->add_flag("--no-trunc", history_flags->no_trunc, "Don't truncate output");
    history_cmd->add_flag("-q,--quiet", history_flags->quiet, "Only show image IDs");
    history_cmd->add_flag("-H,--human", history_flags->human, "Sizes and dates in human-readable form (default; --human=false for bytes and RFC 3339)");
    history_cmd->add_option("--format", history_flags->format, "table, json, or a Go template: '{{.CreatedBy}}'");
    history_cmd->callback([history_flags, &global] { history(*history_flags, global); });

    auto tag_names = std::make_shared<std::pair<std::string, std::string>>();
    auto* tag_cmd = app.add_subcommand("tag", "Give an image another name: SOURCE TARGET");
    tag_cmd->add_option("SOURCE", tag_names->first, "Name, id or digest")->required();
    tag_cmd->add_option("TARGET", tag_names->second, "NAME[:TAG]")->required();
    tag_cmd->callback([tag_names, &global] { tag(tag_names->first, tag_names->second, global); });

    auto rmi_flags = std::make_shared<RmiFlags>();
    auto* rmi_cmd = app.add_subcommand("rmi", "Remove images: untag, then delete an image left without names");
    rmi_cmd->add_option("IMAGE", rmi_flags->images, "Name, id or digest")->required();
    rmi_cmd->add_flag("-f,--force", rmi_flags->force, "Remove even if containers use it or it has several names");
    rmi_cmd->add_flag("--no-prune", rmi_flags->no_prune, "Leave the deleted images' blobs for `strata prune`");
    rmi_cmd->callback([rmi_flags, &global] { rmi(*rmi_flags, global); });
}

} // namespace strata::cli
