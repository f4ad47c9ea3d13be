// strata images: index.json's images as `docker images` lists them, newest first, one row
// per tag (an untagged image is one <none> row). IMAGE ID is the manifest digest, SIZE the
// compressed layers. What a row needs of an image is read from its blobs once and then
// kept in a small per-store file, so listing 1,000 images reads two files.
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "store/gc.hpp"
#include "store/store.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <charconv>
#include <deque>
#include <iostream>
#include <optional>
#include <unordered_map>

namespace strata::cli {

namespace {

using store::json;

struct ImagesFlags {
    bool all = false;
    bool digests = false;
    bool no_trunc = false;
    bool quiet = false;
    std::vector<std::string> filters;
    std::string format;
};

// What the rows of one manifest show.
struct ImageFacts {
    std::optional<long long> created;  // none: no readable "created"
    std::optional<long long> size;     // none: the image cannot be read
    std::string labels = "{}";         // the config's Labels, as JSON (parsed only to filter)
};

ImageFacts read_facts(const store::Store& store, const store::Descriptor& manifest) {
    ImageFacts facts;
    store::Image image;
    try {
        image = store.load_image(manifest);
    } catch (const Error&) {
        return facts;  // an index of platforms, or a damaged image: listed without details
    }
    long long size = 0;
    for (const auto& layer : image.layers()) size += layer.size;
    facts.size = size;
    if (const auto created = image.config.find("created"); created != image.config.end() && created->is_string())
        facts.created = parse_rfc3339(created->get<std::string>());
    if (const auto config = image.config.find("config"); config != image.config.end() && config->is_object())
        if (const auto labels = config->find("Labels"); labels != config->end() && labels->is_object())
            facts.labels = labels->dump();
    return facts;
}

// The facts of listed manifests, kept between runs in <root>/local/images/facts, one line
// each: "<digest> <created|-> <size> <labels JSON>". A manifest digest names immutable
// content, so a line never goes stale; the file is a hint (rewritten without fsync, ignored
// when unreadable) and keeps only manifests index.json still lists. Lines are read as views
// into the file's bytes: on a virtual machine where first-touch memory is dear, a parsed
// JSON document of 1,000 images would cost more than the listing.
class FactsCache {
public:
    explicit FactsCache(const store::Store& store) : store_(store), path_(store::local_state_dir(store, "images") / "facts") {
        try {
            bytes_ = read_file(path_);
        } catch (const Error&) {
            return;  // none yet
        }
        std::string_view rest = bytes_;
        if (!rest.starts_with(header)) return;  // another version's
        rest.remove_prefix(header.size());
        while (!rest.empty()) {
            const auto end = rest.find('\n');
            const std::string_view line = rest.substr(0, end);
            rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
            if (const auto space = line.find(' '); space != std::string_view::npos) lines_[line.substr(0, space)] = line;
        }
    }

    ImageFacts get(const store::Descriptor& manifest) {
        if (const auto it = lines_.find(manifest.digest); it != lines_.end())
            if (auto facts = parse_line(it->second)) return *facts;
        ImageFacts facts = read_facts(store_, manifest);
        if (facts.size) {  // a damaged image is read again next time
            const std::string_view line = added_.emplace_back(format_line(manifest.digest, facts));  // a deque's strings stay put
            lines_[line.substr(0, line.find(' '))] = line;
        }
        return facts;
    }

    // Rewrites the file if it gained lines or holds manifests no longer listed.
    void save(const std::vector<store::IndexEntry>& index) {
        std::unordered_map<std::string_view, std::string_view> kept;
        for (const auto& e : index)
            if (const auto it = lines_.find(e.manifest.digest); it != lines_.end()) kept.emplace(it->first, it->second);
        if (added_.empty() && kept.size() == lines_.size()) return;
        std::string out(header);
        for (const auto& [digest, line] : kept) (out += line) += '\n';
        try {
            write_file_replace(path_, out);
        } catch (const Error&) {
            // a read-only store still lists; it just reads the blobs again next time
        }
    }

private:
    static constexpr std::string_view header = "strata image facts 1\n";

    static std::string format_line(const std::string& digest, const ImageFacts& f) {
        return digest + " " + (f.created ? std::to_string(*f.created) : "-") + " " + std::to_string(*f.size) + " " + f.labels;
    }

    static std::optional<ImageFacts> parse_line(std::string_view line) {
        const auto number = [](std::string_view text) -> std::optional<long long> {
            long long value = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
            return value;
        };
        const auto a = line.find(' '), b = line.find(' ', a + 1), c = line.find(' ', b + 1);
        if (c == std::string_view::npos) return std::nullopt;
        ImageFacts f;
        const std::string_view created = line.substr(a + 1, b - a - 1);
        if (created != "-" && !(f.created = number(created))) return std::nullopt;
        if (!(f.size = number(line.substr(b + 1, c - b - 1)))) return std::nullopt;
        f.labels = line.substr(c + 1);
        return f;
    }

    const store::Store& store_;
    fs::path path_;
    std::string bytes_;
    std::unordered_map<std::string_view, std::string_view> lines_;  // digest -> line, views into bytes_ or added_
    std::deque<std::string> added_;
};

// docker's --filter for images: dangling=true|false, reference=PATTERN (any of several),
// label=KEY or label=KEY=VALUE (all of several), before=IMAGE, since=IMAGE.
struct Filters {
    std::optional<bool> dangling;
    std::vector<std::string> references;
    std::vector<std::pair<std::string, std::optional<std::string>>> labels;
    std::optional<long long> before, since;  // created times of the named images
};

long long created_of(const store::Store& store, const std::string& reference) {
    const auto manifest = store.resolve(reference);
    if (!manifest) throw Error("no such image: '" + reference + "'");
    const ImageFacts facts = read_facts(store, *manifest);
    if (!facts.created) throw Error("image '" + reference + "' has no creation time");
    return *facts.created;
}

Filters parse_filters(const std::vector<std::string>& specs, const store::Store& store) {
    Filters f;
    for (const auto& spec : specs) {
        const auto eq = spec.find('=');
        const std::string key = spec.substr(0, eq);
        const std::string value = eq == std::string::npos ? "" : spec.substr(eq + 1);
        if (eq == std::string::npos || value.empty()) throw Error("invalid filter '" + spec + "': expected KEY=VALUE");
        if (key == "dangling") {
            if (value != "true" && value != "false" && value != "1" && value != "0")
                throw Error("invalid filter 'dangling=" + value + "': expected true or false");
            f.dangling = value == "true" || value == "1";
        } else if (key == "reference") {
            f.references.push_back(value);
        } else if (key == "label") {
            const auto label_eq = value.find('=');
            if (label_eq == std::string::npos) f.labels.emplace_back(value, std::nullopt);
            else f.labels.emplace_back(value.substr(0, label_eq), value.substr(label_eq + 1));
        } else if (key == "before") {
            f.before = created_of(store, value);
        } else if (key == "since") {
            f.since = created_of(store, value);
        } else {
            throw Error("invalid filter '" + key + "': images take dangling, reference, label, before and since");
        }
    }
    return f;
}

bool image_passes(const Filters& f, const ImageFacts& facts) {
    if (!f.labels.empty()) {
        const json labels = json::parse(facts.labels, nullptr, false);
        for (const auto& [key, value] : f.labels) {
            const auto it = labels.is_object() ? labels.find(key) : labels.end();
            if (!labels.is_object() || it == labels.end()) return false;
            if (value && (!it->is_string() || it->get<std::string>() != *value)) return false;
        }
    }
    if (f.before && (!facts.created || *facts.created >= *f.before)) return false;
    if (f.since && (!facts.created || *facts.created <= *f.since)) return false;
    return true;
}

bool name_passes(const Filters& f, const store::IndexEntry& entry) {
    if (f.references.empty()) return true;
    if (!entry.reference) return false;
    return std::any_of(f.references.begin(), f.references.end(),
                       [&](const std::string& pattern) { return store::reference_matches(*entry.reference, pattern); });
}

// "alpine:latest" -> {"alpine", "latest"}: the tag follows the last ':' after the last '/'.
// "x@sha256:..." (a name pinned by digest) has no tag.
std::pair<std::string, std::string> split_name(std::string_view name) {
    const std::string_view named = name.substr(0, name.find('@'));
    const auto slash = named.rfind('/');
    const auto colon = named.rfind(':');
    if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) return {std::string(named), "<none>"};
    return {std::string(named.substr(0, colon)), std::string(named.substr(colon + 1))};
}

// One image of the listing; it points into the index entries, which outlive it.
struct Listed {
    const store::Descriptor* manifest = nullptr;
    ImageFacts facts;
    std::vector<std::string_view> names;  // familiar "name:tag" that pass the filters, sorted
    bool tagged = false;                  // false: dangling
};

// The images of `index`, grouped by manifest and filtered, newest first.
std::vector<Listed> list(const store::Store& store, const std::vector<store::IndexEntry>& index, const Filters& filters) {
    std::vector<Listed> out;
    std::unordered_map<std::string_view, std::size_t> position;  // digest -> index in out
    for (const auto& entry : index) {
        const auto [it, added] = position.try_emplace(entry.manifest.digest, out.size());
        if (added) out.push_back({&entry.manifest, {}, {}, false});
        Listed& listed = out[it->second];
        if (entry.name.empty()) continue;
        listed.tagged = true;
        if (name_passes(filters, entry)) listed.names.push_back(entry.name);
    }
    FactsCache cache(store);
    std::erase_if(out, [&](Listed& listed) {
        if (!filters.references.empty() && listed.names.empty()) return true;
        if (filters.dangling && *filters.dangling == listed.tagged) return true;
        listed.facts = cache.get(*listed.manifest);
        std::sort(listed.names.begin(), listed.names.end());
        return !image_passes(filters, listed.facts);
    });
    cache.save(index);
    std::stable_sort(out.begin(), out.end(), [](const Listed& a, const Listed& b) {
        const long long ca = a.facts.created.value_or(-1), cb = b.facts.created.value_or(-1);
        return ca != cb ? ca > cb : a.manifest->digest < b.manifest->digest;
    });
    return out;
}

ordered_json row(const Listed& image, std::string repository, std::string tag, const ImagesFlags& flags, long long now) {
    const std::string size = image.facts.size ? format_bytes(*image.facts.size) : "N/A";
    // Keys in the order docker's {{json .}} gives them (sorted).
    return ordered_json{{"Containers", "N/A"},
                        {"CreatedAt", image.facts.created ? go_time_string(*image.facts.created) : "N/A"},
                        {"CreatedSince", image.facts.created ? human_duration(now - *image.facts.created) + " ago" : "N/A"},
                        {"Digest", image.manifest->digest},
                        {"ID", short_id(image.manifest->digest, flags.no_trunc)},
                        {"Repository", std::move(repository)},
                        {"SharedSize", "N/A"},
                        {"Size", size},
                        {"Tag", std::move(tag)},
                        {"UniqueSize", "N/A"},
                        {"VirtualSize", size}};
}

const ordered_json& headers() {
    static const ordered_json h = {{"Containers", "CONTAINERS"}, {"CreatedAt", "CREATED AT"}, {"CreatedSince", "CREATED"},
                                   {"Digest", "DIGEST"},         {"ID", "IMAGE ID"},          {"Repository", "REPOSITORY"},
                                   {"SharedSize", "SHARED SIZE"}, {"Size", "SIZE"},           {"Tag", "TAG"},
                                   {"UniqueSize", "UNIQUE SIZE"}, {"VirtualSize", "VIRTUAL SIZE"}};
    return h;
}

void list_images(const ImagesFlags& flags, const GlobalOptions& global) {
    const store::Store store(global.root);
    const Filters filters = parse_filters(flags.filters, store);
    std::string format = flags.format;
    if (flags.quiet && (format.empty() || format == "table")) format = "{{.ID}}";
    const char* table = flags.digests ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                                      : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
    RowPrinter printer(format, headers(), table);
    const long long now = now_seconds();
    const std::vector<store::IndexEntry> index = store.index_entries();
    for (const auto& image : list(store, index, filters)) {
        if (image.names.empty()) printer.add(row(image, "<none>", "<none>", flags, now));
        for (const auto name : image.names) {
            auto [repository, tag] = split_name(name);
            printer.add(row(image, std::move(repository), std::move(tag), flags, now));
        }
    }
    std::cout << printer.finish();
}

} // namespace

void add_images_command(CLI::App& app, GlobalOptions& global) {
    auto flags = std::make_shared<ImagesFlags>();
    auto* cmd = app.add_subcommand("images", "List images (IMAGE ID = manifest digest; SIZE = compressed layers)");
    cmd->add_flag("-a,--all", flags->all, "Show all images (strata keeps no intermediate images: the same list)");
    cmd->add_flag("--digests", flags->digests, "Show digests");
    cmd->add_flag("--no-trunc", flags->no_trunc, "Don't truncate output");
    cmd->add_flag("-q,--quiet", flags->quiet, "Only show image IDs");
    cmd->add_option("-f,--filter", flags->filters,
                    "Filter output: dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE")
        ->allow_extra_args(false);
    cmd->add_option("--format", flags->format, "table, json, or a Go template: '{{.Repository}}:{{.Tag}}'");
    cmd->callback([flags, &global] { list_images(*flags, global); });
}

} // namespace strata::cli
