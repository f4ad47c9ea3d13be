// ADD: COPY from the context plus tar archives that unpack (local ones by default) and
// http(s) URLs that download. Git repositories are refused for now.
#include "builder/fetch.hpp"
#include "builder/file_step.hpp"
#include "builder/paths.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <cctype>

namespace strata::builder {

namespace {

void refuse_unsupported_add(const parser::Instruction& step) {
    refuse_flags_except(step, {"chown", "chmod", "link", "checksum", "exclude", "unpack", "keep-git-dir"});
    if (step.keep_git_dir)
        throw Error("ADD --keep-git-dir: adding a git repository is not supported yet, so there is no .git to keep");
}

// --checksum=sha256:<64 hex digits>, the only form BuildKit accepts for HTTP sources.
void check_checksum_syntax(const std::string& checksum) {
    const std::string prefix = "sha256:";
    const bool hex = checksum.size() == prefix.size() + 64 && checksum.starts_with(prefix) &&
                     std::all_of(checksum.begin() + static_cast<long>(prefix.size()), checksum.end(),
                                 [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c)); });
    if (!hex) throw Error("ADD --checksum=" + checksum + ": expected sha256:<64 lower-case hex digits>");
}

// A URL to download, and when its content is known. With --checksum a cached step needs
// no download at all: the checksum is the content's digest, and the cache key is built from it.
struct RemoteSource {
    std::string url;
    std::string digest;  // known up front with --checksum, else after the download
    std::optional<Download> download;
};

void fetch(RemoteSource& remote, const fs::path& dir, long long now) {
    if (remote.download) return;
    Download d = download(remote.url, dir);
    if (!remote.digest.empty() && d.digest != remote.digest)
        throw Error("ADD " + remote.url + ": checksum mismatch: --checksum=" + remote.digest + " but the download is " + d.digest);
    // docker: mode 0600, and the mtime the server's Last-Modified gives (else now).
    set_mtime(d.file, d.last_modified.value_or(now));
    remote.digest = d.digest;
    remote.download = std::move(d);
}

// --checksum: only for one http(s) source, as BuildKit allows it.
void check_checksum(const std::string& checksum, const std::vector<std::string>& patterns, const parser::Instruction& step) {
    if (checksum.empty()) return;
    if (patterns.size() != 1 || !step.heredocs.empty()) throw Error("ADD --checksum can't be specified for multiple sources");
    if (!is_http_url(patterns.front()))
        throw Error("ADD --checksum requires an HTTP(S) source, not '" + patterns.front() + "'");
    check_checksum_syntax(checksum);
}

} // namespace

void add_step(StageBuild& stage, const parser::Instruction& step, ImageState& state) {
    const BuildShared& build = stage.build;
    const auto env = stage.expansion_env(state);
    refuse_unsupported_add(step);

    std::vector<std::string> patterns;
    for (const auto& word : step.sources) {
        if (parser::heredoc_word(word)) continue;
        for (auto& pattern : parser::expand_words(word, env, build.dag.escape)) {
            if (is_git_url(pattern)) throw Error("ADD " + pattern + ": ADD of a git repository is not supported yet");
            patterns.push_back(std::move(pattern));
        }
    }
    const std::string checksum = stage.expand(step.checksum, env);
    check_checksum(checksum, patterns, step);
    std::vector<std::string> exclude_patterns;
    for (const auto& word : step.excludes) exclude_patterns.push_back(stage.expand(word, env));
    const IgnoreMatcher excludes(exclude_patterns);
    const ContextFilter context_filter(build.ignore);
    const HashOptions hash_options = hash_options_for_chmod(stage.expand(step.chmod, env));

    // Local sources unpack by default, URLs only with --unpack=true (docker's rules).
    FileStep file_step;
    file_step.link = step.link;
    std::vector<RemoteSource> remotes;
    nlohmann::json digests = nlohmann::json::array();
    for (const auto& pattern : patterns) {
        if (is_http_url(pattern)) {
            remotes.push_back({pattern, checksum, std::nullopt});
            continue;
        }
        for (auto& source : plain_sources(build.options.context_dir, context_filter, pattern, excludes)) {
            source.unpack = step.unpack.value_or(true);
            digests.push_back({{"pattern", source.source.pattern},
                               {"digest", build.context_hashes.digest(source.source, source.filter, hash_options)}});
            file_step.sources.push_back(std::move(source));
        }
    }

    TempDir work_dir(build.store.tmp_dir(), "add-");
    const long long now = build_time(stage);
    // Without a checksum the content (and so the cache key) is only known once downloaded.
    for (auto& remote : remotes)
        if (remote.digest.empty()) fetch(remote, work_dir.path(), now);
    for (const auto& remote : remotes) digests.push_back({{"url", remote.url}, {"digest", remote.digest}});
    std::vector<FileSource> heredocs = heredoc_sources(stage, step, env, work_dir.path(), digests);

    file_step.attributes = file_step_attributes(stage, step, state, env);
    set_destination(file_step, stage, step, state, env, file_step.sources.size() + remotes.size() + heredocs.size());
    nlohmann::json record = {{"op", "add"}, {"sources", digests}};
    if (step.unpack) record["unpack"] = *step.unpack;
    if (!exclude_patterns.empty()) record["excludes"] = exclude_patterns;

    // Downloads come after the local sources and before heredocs, as BuildKit copies them;
    // they are fetched here only when --checksum let the cache be asked first.
    const auto late_sources = [&] {
        std::vector<FileSource> out;
        for (auto& remote : remotes) {
            fetch(remote, work_dir.path(), now);
            FileSource source;
            source.source = CopySource{remote.url, remote.download->file, "", false, ""};
            source.name = url_file_name(remote.url);
            source.unpack = step.unpack.value_or(false);
            out.push_back(std::move(source));
        }
        for (const auto& heredoc : heredocs) out.push_back(heredoc);
        return out;
    };
    run_file_step(stage, step, state, file_step, std::move(record), late_sources);
}

} // namespace strata::builder
