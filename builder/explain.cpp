// Why a step missed: its record against the one last built at the same place, field by
// field, the step's own inputs first (command, env, sources, ...) and its parent last,
// since a changed parent is a consequence of an earlier step or of the base.
#include "builder/explain.hpp"

#include "builder/cache.hpp"
#include "store/gc.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <fcntl.h>
#include <map>
#include <unistd.h>

namespace strata::builder {

using json = nlohmann::json;

namespace {

constexpr int last_step_version = 1;
constexpr std::string_view listing_magic = "strata-listing 1 ";

std::string shorten(const std::string& text, std::size_t max = 60) {
    return text.size() <= max ? text : text.substr(0, max - 3) + "...";
}

std::string render(const json& value) {
    if (value.is_string()) return shorten(value.get<std::string>());
    return shorten(value.dump());
}

// ----- file lists

fs::path listing_path(const store::Store& store, const StepIdentity& id, std::size_t source) {
    return store::local_state_dir(store, explain_listings_area) / (id.key() + "." + std::to_string(source));
}

// The digest a stored list describes (its first line), read without the rest.
std::string listed_digest(const fs::path& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return "";
    char buf[128];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return "";
    const std::string_view head(buf, static_cast<std::size_t>(n));
    const auto eol = head.find('\n');
    if (!head.starts_with(listing_magic) || eol == std::string_view::npos) return "";
    return std::string(head.substr(listing_magic.size(), eol - listing_magic.size()));
}

// "strata-listing 1 <digest>\n" then path '\0' description '\0' per entry.
void write_listing(const fs::path& path, const std::string& digest, const std::vector<ListingEntry>& entries) {
    std::string out = std::string(listing_magic) + digest + "\n";
    for (const auto& e : entries) {
        out += e.path;
        out += '\0';
        out += e.description;
        out += '\0';
    }
    write_file_atomic(path, out, 0600);
}

std::optional<std::vector<ListingEntry>> read_listing(const fs::path& path, const std::string& digest) {
    std::string data;
    try {
        data = read_file(path);
    } catch (const Error&) {
        return std::nullopt;
    }
    const std::string head = std::string(listing_magic) + digest + "\n";
    if (!data.starts_with(head)) return std::nullopt;
    std::vector<ListingEntry> entries;
    std::size_t pos = head.size();
    while (pos < data.size()) {
        const auto path_end = data.find('\0', pos);
        if (path_end == std::string::npos) return std::nullopt;
        const auto desc_end = data.find('\0', path_end + 1);
        if (desc_end == std::string::npos) return std::nullopt;
        entries.push_back({data.substr(pos, path_end - pos), data.substr(path_end + 1, desc_end - path_end - 1)});
        pos = desc_end + 1;
    }
    return entries;
}

// ----- descriptions of one entry: "f0644 <hex>", "d0755", "l -> t", "o0644 rdev=N" (mode optional)

struct Described {
    char type = '?';
    std::string mode;
    std::string detail;
};

Described parse_description(const std::string& d) {
    Described out;
    if (d.empty()) return out;
    out.type = d[0];
    std::size_t i = 1;
    while (i < d.size() && d[i] >= '0' && d[i] <= '7') ++i;
    out.mode = d.substr(1, i - 1);
    out.detail = i < d.size() ? d.substr(i + 1) : "";
    return out;
}

std::string kind_name(char type) {
    switch (type) {
    case 'd': return "directory";
    case 'l': return "link";
    case 'f': return "file";
    default: return "special file";
    }
}

std::string describe_change(const std::string& path, const std::string& before, const std::string& now) {
    const Described a = parse_description(before), b = parse_description(now);
    if (a.type != b.type) return path + " changed from a " + kind_name(a.type) + " to a " + kind_name(b.type);
    if (a.detail == b.detail && a.mode != b.mode)
        return "mode of " + kind_name(b.type) + " " + path + " changed (was " + a.mode + ", now " + b.mode + ")";
    if (b.type == 'l') return "link " + path + " changed (was " + shorten(a.detail) + ", now " + shorten(b.detail) + ")";
    return kind_name(b.type) + " " + path + " changed";
}

// ----- record fields

std::map<std::string, std::string> env_map(const json& list) {
    std::map<std::string, std::string> out;
    if (!list.is_array()) return out;
    for (const auto& item : list) {
        if (!item.is_string()) continue;
        const std::string kv = item.get<std::string>();
        const auto eq = kv.find('=');
        out[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
    return out;
}

std::string explain_env(const json& before, const json& now) {
    const auto a = env_map(before), b = env_map(now);
    for (const auto& item : now) {
        if (!item.is_string()) continue;
        const std::string kv = item.get<std::string>();
        const std::string name = kv.substr(0, kv.find('='));
        const auto old = a.find(name);
        if (old == a.end()) return "ARG/env " + name + " added (now " + shorten(b.at(name)) + ")";
        if (old->second != b.at(name))
            return "ARG/env " + name + " changed (was " + shorten(old->second) + ", now " + shorten(b.at(name)) + ")";
    }
    for (const auto& [name, value] : a)
        if (!b.count(name)) return "ARG/env " + name + " removed (was " + shorten(value) + ")";
    return "the order of the environment changed";
}

// What a source entry is called: its pattern, or its heredoc ("<<EOF").
std::string source_name(const json& source) {
    if (!source.is_object()) return source.dump();
    if (source.contains("pattern")) return source.value("pattern", "");
    if (source.contains("heredoc")) return "<<" + source.value("heredoc", "");
    return source.dump();
}

std::string explain_sources(const ExplainInput& in, const json& before, const json& now) {
    const auto patterns = [](const json& list) {
        std::vector<std::string> out;
        if (list.is_array())
            for (const auto& s : list) out.push_back(source_name(s));
        return out;
    };
    if (patterns(before) != patterns(now)) return "sources changed (was " + render(before) + ", now " + render(now) + ")";
    for (std::size_t i = 0; i < now.size(); ++i) {
        if (before[i] == now[i]) continue;
        const std::string pattern = source_name(now[i]);
        if (!before[i].is_object() || !now[i].is_object()) return "source '" + pattern + "' changed";
        const std::string old_digest = before[i].value("digest", "");
        const std::string new_digest = now[i].value("digest", "");
        if (old_digest == new_digest) return "source '" + pattern + "' changed";
        const auto old_list = read_listing(listing_path(in.store, in.id, i), old_digest);
        const auto new_list = in.hashes.listing(new_digest);
        if (!old_list || !new_list) return "source '" + pattern + "' changed (content)";
        return describe_listing_change(*old_list, *new_list);
    }
    return "sources changed";
}

// Why the filesystem under the step differs: the nearest earlier step of this stage that
// produced it in this build, if one did; else the stage's base.
std::string explain_parent(const ExplainInput& in) {
    const std::string parent = in.record.value("parent", "");
    for (std::size_t n = in.id.number - 1; n >= 2; --n) {
        const auto earlier = last_step(in.store, in.id.with_number(n));
        if (!earlier || !earlier->added_layer || earlier->chain_id != parent) continue;
        const std::string which = "[" + in.id.stage + " " + std::to_string(n) + "] " + shorten(earlier->text);
        return earlier->hit ? "parent layer changed (an earlier step's cached result differs from the last build: " + which + ")"
                            : "parent layer changed (an earlier step missed: " + which + ")";
    }
    return "base image moved (" + in.base + " is not what the last build used)";
}

std::string explain_field(const ExplainInput& in, const std::string& field, const json& before, const json& now) {
    if (field == "op") return "instruction changed (was " + render(before) + ", now " + render(now) + ")";
    if (field == "argv") return "command changed";
    if (field == "env") return explain_env(before, now);
    if (field == "sources") return explain_sources(in, before, now);
    if (field == "from") return "the stage copied from changed";
    if (field == "cwd") return "working directory changed (was " + render(before) + ", now " + render(now) + ")";
    if (field == "dest" || field == "dest_is_dir")
        return "destination changed (was " + render(before) + ", now " + render(now) + ")";
    if (field == "owner") return "owner (--chown) changed (was " + render(before) + ", now " + render(now) + ")";
    if (field == "chmod") return "--chmod changed (was " + render(before) + ", now " + render(now) + ")";
    if (before.is_null()) return field + " added (now " + render(now) + ")";
    if (now.is_null()) return field + " removed (was " + render(before) + ")";
    return field + " changed (was " + render(before) + ", now " + render(now) + ")";
}

} // namespace

std::string StepIdentity::key() const {
    const json id = {{"buildfile", buildfile}, {"stage", stage}, {"stage_index", stage_index}, {"step", number}};
    return sha256_hex(id.dump());
}

std::optional<LastStep> last_step(const store::Store& store, const StepIdentity& id) {
    try {
        const auto r = store.get_record(last_steps_namespace, id.key());
        if (!r || !r->is_object() || r->value("v", 0) != last_step_version) return std::nullopt;
        LastStep last;
        last.key = r->at("key").get<std::string>();
        last.record = r->at("record");
        last.chain_id = r->at("chain_id").get<std::string>();
        last.added_layer = r->at("added_layer").get<bool>();
        last.hit = r->at("hit").get<bool>();
        last.text = r->value("text", "");
        return last;
    } catch (const json::exception&) {
        return std::nullopt;
    } catch (const Error&) {
        return std::nullopt;
    }
}

void remember_step(store::Store& store, const StepIdentity& id, const std::optional<LastStep>& last,
                   const LastStep& now, ContextHashes& hashes) {
    if (last && last->key == now.key && last->chain_id == now.chain_id && last->added_layer == now.added_layer) return;
    try {
        // The file lists first: a record never names a digest whose list is older than it.
        const json sources = now.record.value("sources", json::array());
        for (std::size_t i = 0; sources.is_array() && i < sources.size(); ++i) {
            if (!sources[i].is_object() || !sources[i].contains("digest")) continue;
            const std::string digest = sources[i]["digest"].get<std::string>();
            const fs::path path = listing_path(store, id, i);
            if (listed_digest(path) == digest) continue;
            if (const auto entries = hashes.listing(digest)) write_listing(path, digest, *entries);
            else ::unlink(path.c_str());
        }
        store.put_record(last_steps_namespace, id.key(),
                         {{"v", last_step_version},
                          {"buildfile", id.buildfile},
                          {"stage", id.stage},
                          {"step", id.number},
                          {"text", now.text},
                          {"key", now.key},
                          {"record", now.record},
                          {"chain_id", now.chain_id},
                          {"added_layer", now.added_layer},
                          {"hit", now.hit}});
    } catch (const Error&) {
        // only bookkeeping for later explanations
    } catch (const json::exception&) {
    }
}

std::string explain_miss(const ExplainInput& in) {
    if (in.no_cache) return "the cache is off (--no-cache)";
    if (!in.last) return "no earlier build of this step";
    if (in.last->key == in.key) return "same inputs as the last build, but its cached result is gone (pruned?)";
    const json& before = in.last->record;
    const json& now = in.record;
    static const std::vector<std::string> own_inputs_first = {"op",   "argv",  "env",  "cwd",   "user", "network",
                                                              "from", "sources", "dest", "dest_is_dir", "chmod", "owner"};
    std::vector<std::string> fields = own_inputs_first;
    for (const auto& [name, value] : now.items())
        if (name != "parent" && std::find(fields.begin(), fields.end(), name) == fields.end()) fields.push_back(name);
    for (const auto& [name, value] : before.items())
        if (name != "parent" && std::find(fields.begin(), fields.end(), name) == fields.end()) fields.push_back(name);
    for (const auto& field : fields) {
        const json a = before.is_object() ? before.value(field, json()) : json();
        const json b = now.value(field, json());
        if (a != b) return explain_field(in, field, a, b);
    }
    if (before.value("parent", json()) != now.value("parent", json())) return explain_parent(in);
    return "the cache key format changed";
}

std::string describe_listing_change(const std::vector<ListingEntry>& before, const std::vector<ListingEntry>& now) {
    std::map<std::string_view, std::string_view> old_entries;
    for (const auto& e : before) old_entries.emplace(e.path, e.description);
    std::map<std::string_view, bool> in_now;
    std::string first;
    std::size_t changes = 0;
    for (const auto& e : now) {
        in_now.emplace(e.path, true);
        const auto it = old_entries.find(e.path);
        if (it != old_entries.end() && it->second == e.description) continue;
        if (changes++ == 0)
            first = it == old_entries.end() ? kind_name(parse_description(e.description).type) + " " + e.path + " added"
                                            : describe_change(e.path, std::string(it->second), e.description);
    }
    for (const auto& e : before) {
        if (in_now.count(e.path)) continue;
        if (changes++ == 0) first = kind_name(parse_description(e.description).type) + " " + e.path + " removed";
    }
    if (changes == 0) return "the source's digest changed";
    if (changes > 1) first += " (and " + std::to_string(changes - 1) + " more)";
    return first;
}

} // namespace strata::builder
