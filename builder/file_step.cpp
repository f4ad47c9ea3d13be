// The part of COPY and ADD after their sources are known (file_step.hpp).
#include "builder/file_step.hpp"

#include "builder/archive.hpp"
#include "builder/paths.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <chrono>
#include <sys/stat.h>

namespace strata::builder {

namespace {

bool is_numeric_owner(const std::string& owner) {
    for (const char c : owner)
        if (c != ':' && (c < '0' || c > '9')) return false;
    return !owner.empty() && owner.front() != ':' && owner.back() != ':';
}

bool is_dir_following(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The destination inside `lower`: a directory reached through symlinks of the image is
// written through them (COPY to /bin/ on a usr-merged image lands in /usr/bin, as
// BuildKit resolves it), while a symlink to a file is replaced rather than written through.
fs::path resolve_destination(const fs::path& lower, const std::string& dest_path) {
    const fs::path last_kept = resolve_relative(lower, dest_path, false);
    if (is_dir_following(lower / last_kept)) return resolve_relative(lower, dest_path, true);
    return last_kept;
}

void write_source(const FileStep& file_step, const FileSource& s, const fs::path& dest_rel, bool into_dir,
                  const fs::path& snapshot, const fs::path& lower) {
    const CopyAttributes& attributes = file_step.attributes;
    if (s.unpack && !s.source.is_dir && is_tar_archive(s.source.path)) {
        // BuildKit unpacks into the destination as a directory, trailing slash or not; the
        // archive's entries keep their own owners (--chown only owns the directories made here).
        make_parent_dirs(snapshot, lower, dest_rel.string(), attributes);
        with_context("unpacking '" + s.source.pattern + "'",
                     [&] { extract_tar(s.source.path, snapshot / dest_rel, lower / dest_rel); });
        return;
    }
    if (!s.parents.empty()) {
        make_parent_dirs(snapshot, lower, dest_rel.string(), attributes);
        const std::string dirs = s.source.is_dir ? s.parents : fs::path(s.parents).parent_path().string();
        make_source_parent_dirs(snapshot, lower, dest_rel.string(), dirs, s.parents_root, s.parents_base, attributes);
        copy_entry(s.source, snapshot / dest_rel / s.parents, s.filter, attributes);
        return;
    }
    const bool contents = s.source.is_dir;
    const fs::path target_rel = (contents || !into_dir) ? dest_rel : dest_rel / s.name;
    make_parent_dirs(snapshot, lower, contents ? target_rel.string() : target_rel.parent_path().string(), attributes);
    copy_entry(s.source, snapshot / target_rel, s.filter, attributes);
}

// A snapshot of `layer` keyed by `chain_id`: linked from the layer's snapshot on its own
// (keyed by its diff id) when there is one, else unpacked from its blob.
void ensure_snapshot(store::Store& store, const store::Descriptor& layer, const std::string& diff_id,
                     const std::string& chain_id) {
    if (store.has_snapshot(chain_id)) return;
    if (store.has_snapshot(diff_id)) {
        store.clone_snapshot(diff_id, chain_id);
        return;
    }
    TempDir staging = store.new_snapshot_staging();
    const std::string unpacked = store::unpack_layer(store.blob_path(layer.digest), layer.media_type, staging.path());
    if (unpacked != diff_id) throw Error("layer " + layer.digest + " unpacks to " + unpacked + ", not " + diff_id);
    store.commit_snapshot(std::move(staging), chain_id);
}

// --link: the step's output depends on its sources only. It goes through the cache as if
// it were the first step of an empty image (its record has no parent, its snapshot is
// keyed by the layer alone), so a cached layer is reused under any parent; the layer is
// then stacked on the real parent, whose chain id needs a snapshot of its own.
void apply_linked_step(StageBuild& stage, const parser::Instruction& step, ImageState& state, const nlohmann::json& record,
                       const std::function<void(const fs::path& snapshot)>& write) {
    ImageState alone = state;
    alone.layers.clear();
    alone.chain_ids.clear();
    stage.apply_step(step, alone, record, [&](TempDir& snapshot) { write(snapshot.path()); });
    const bool added_layer = !alone.layers.empty();
    if (added_layer) {
        const std::string diff_id = alone.chain_ids.back();  // a first layer's chain id is its diff id
        const std::string& parent = state.top_chain_id();
        const std::string chain_id = parent.empty() ? diff_id : store::next_chain_id(parent, diff_id);
        ensure_snapshot(stage.build.store, alone.layers.back(), diff_id, chain_id);
        state.add_layer(alone.layers.back(), diff_id, chain_id);
    }
    state.created = std::max(state.created, alone.created);
    state.add_history(step.original, !added_layer);
}

} // namespace

long long build_time(const StageBuild& stage) {
    if (stage.build.options.source_date_epoch) return *stage.build.options.source_date_epoch;
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string path_below(const std::string& base, const std::string& path) {
    if (base.empty()) return path;
    if (path == base) return "";
    if (path.size() > base.size() && path.starts_with(base) && path[base.size()] == '/') return path.substr(base.size() + 1);
    return path;
}

std::vector<FileSource> plain_sources(const fs::path& root, const ContextFilter& filter, const std::string& pattern,
                                      const IgnoreMatcher& excludes) {
    const std::string base = wildcard_base(pattern);
    const bool wildcard = has_wildcard(clean_relative(pattern).string());
    std::vector<FileSource> sources;
    for (auto& match : match_sources(root, pattern, filter)) {
        FileSource source;
        source.filter = excludes.empty() ? filter : filter.with_excludes(excludes, match.rel);
        if (wildcard && source.filter.excluded(path_below(base, match.matched), match.is_dir)) continue;
        // Named as matched: `COPY link /dst/` makes /dst/link even when the link was followed.
        source.name = fs::path(match.matched.empty() ? match.rel : match.matched).filename().string();
        source.source = std::move(match);
        sources.push_back(std::move(source));
    }
    return sources;
}

CopyAttributes file_step_attributes(const StageBuild& stage, const parser::Instruction& step, const ImageState& state,
                                    const parser::Environment& env) {
    const std::string name(parser::kind_name(step.kind));
    CopyAttributes attributes;
    if (!step.chown.empty()) {
        const std::string owner = stage.expand(step.chown, env);
        if (step.link && !is_numeric_owner(owner))
            throw Error(name + " --link --chown=" + owner +
                        ": --link copies into an empty filesystem, where user and group names cannot be looked up; "
                        "use numeric ids");
        std::vector<fs::path> layers;
        if (!step.link) layers = state.snapshot_dirs_topmost_first(stage.build.store);
        const auto user = sandbox::resolve_user(owner, layers);
        attributes.uid = user.uid;
        attributes.gid = owner.find(':') == std::string::npos ? user.uid : user.gid;
    }
    if (!step.chmod.empty()) attributes.chmod = ModeChange::parse(stage.expand(step.chmod, env));
    return attributes;
}

void set_destination(FileStep& file_step, const StageBuild& stage, const parser::Instruction& step,
                     const ImageState& state, const parser::Environment& env, std::size_t count) {
    const std::string dest = stage.expand(step.dest, env);
    // BuildKit treats ".", "" and a trailing "/" as "into this directory".
    file_step.dest_is_dir = file_step.dest_is_dir || dest.empty() || dest == "." || dest.ends_with("/") ||
                            dest.ends_with("/.") || count > 1;
    file_step.dest_path = join_container_path(state.working_dir(), dest);
}

std::string expand_heredoc(std::string_view body, const parser::Environment& env) {
    // BuildKit expands heredoc bodies with its word lexer told to leave quotes alone; ours
    // has no such switch, so quotes are escaped first (escapes already there stay as written).
    std::string protected_body;
    protected_body.reserve(body.size() + 16);
    for (std::size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (c == '\\' && i + 1 < body.size()) {
            protected_body += c;
            protected_body += body[++i];
            continue;
        }
        if (c == '\'' || c == '"') protected_body += '\\';
        protected_body += c;
    }
    return parser::expand_word(protected_body, env, '\\');  // BuildKit's heredoc lexer always escapes with '\'
}

std::vector<FileSource> heredoc_sources(const StageBuild& stage, const parser::Instruction& step,
                                        const parser::Environment& env, const fs::path& dir, nlohmann::json& digests) {
    std::vector<FileSource> sources;
    std::size_t next = 0;
    for (const auto& word : step.sources) {
        const auto heredoc = parser::heredoc_word(word);
        if (!heredoc) continue;
        if (next >= step.heredocs.size() || step.heredocs[next].name != heredoc->name)
            throw Error("heredoc <<" + heredoc->name + " has no body");
        const parser::Heredoc& doc = step.heredocs[next++];
        const std::string content = doc.expand ? expand_heredoc(doc.data(), env) : doc.data();
        const std::string name = fs::path(doc.name).filename().string();
        if (name.empty() || name == "." || name == "..") throw Error("heredoc <<" + doc.name + " names no file");
        const fs::path file = dir / ("heredoc-" + std::to_string(next));
        write_source_file(file, content, 0644, build_time(stage));
        FileSource source;
        source.source = CopySource{"<<" + doc.name, file, "", false, ""};
        source.name = name;
        sources.push_back(std::move(source));
        digests.push_back({{"heredoc", doc.name}, {"digest", "sha256:" + sha256_hex(content)}});
    }
    return sources;
}

void write_sources(const FileStep& file_step, const fs::path& snapshot, const fs::path& lower) {
    const fs::path dest_rel = resolve_destination(lower, file_step.dest_path);
    const bool into_dir = file_step.dest_is_dir || is_dir_following(lower / dest_rel);
    for (const auto& source : file_step.sources) write_source(file_step, source, dest_rel, into_dir, snapshot, lower);
}

void run_file_step(StageBuild& stage, const parser::Instruction& step, ImageState& state, const FileStep& file_step,
                   nlohmann::json record, const std::function<std::vector<FileSource>()>& late_sources) {
    const BuildShared& build = stage.build;
    const CopyAttributes& attributes = file_step.attributes;
    const auto write = [&](const fs::path& snapshot, const fs::path& lower) {
        if (!late_sources) return write_sources(file_step, snapshot, lower);
        FileStep complete = file_step;
        for (auto& source : late_sources()) complete.sources.push_back(std::move(source));
        write_sources(complete, snapshot, lower);
    };
    record["dest"] = file_step.dest_path;
    record["dest_is_dir"] = file_step.dest_is_dir;
    record["owner"] = std::to_string(attributes.uid) + ":" + std::to_string(attributes.gid);
    record["chmod"] = step.chmod.empty() ? "" : stage.expand(step.chmod, stage.expansion_env(state));
    if (file_step.link) {
        record["link"] = true;  // and no "parent": that is the point of --link
        apply_linked_step(stage, step, state, record, [&](const fs::path& snapshot) {
            TempDir empty(build.store.tmp_dir(), "empty-");  // the lower filesystem is not consulted
            write(snapshot, empty.path());
        });
        return;
    }
    record["parent"] = state.top_chain_id();
    stage.apply_step(step, state, record, [&](TempDir& snapshot) {
        TempDir lower_view_dir(build.store.tmp_dir(), "view-");
        const sandbox::ReadOnlyView lower(state.snapshot_dirs_topmost_first(build.store), lower_view_dir.path());
        write(snapshot.path(), lower.path());
    });
}

} // namespace strata::builder
