#include "builder/run_mounts.hpp"

#include "builder/copy.hpp"
#include "builder/paths.hpp"
#include "builder/stage.hpp"
#include "sandbox/view.hpp"
#include "store/cache_mounts.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::builder {

namespace {

// "RUN --mount=type=cache,id=x,target=/y", from the flag as written (variables unexpanded):
// enough to find it on the line, never a secret's value (the flag holds none).
std::string describe(const parser::Mount& m) {
    std::string name = "RUN --mount=type=" + m.type;
    for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"id", &m.id},
                                     {"from", &m.from},
                                     {"source", &m.source},
                                     {"target", &m.target},
                                     {"env", &m.env}}) {
        if (!value->empty()) name += std::string(",") + key + "=" + *value;
    }
    return name;
}

std::string basename_of(const std::string& path) {
    const std::string clean = "/" + clean_relative(path).string();
    return clean.substr(clean.rfind('/') + 1);
}

struct Expander {
    const StageBuild& stage;
    const parser::Environment env;
    const std::string workdir;

    std::string word(const std::string& text) const { return text.empty() ? text : stage.expand(text, env); }
    std::string target(const std::string& text) const {
        const std::string expanded = word(text);
        return expanded.empty() ? expanded : join_container_path(workdir, expanded);
    }
};

// A bind from the context: the source resolved inside it (a symlink cannot lead out), and
// the digest of what it shows, less what .dockerignore leaves out.
void resolve_context_source(const StageBuild& stage, RunMount& mount) {
    const BuildShared& build = stage.build;
    const fs::path root = fs::absolute(build.options.context_dir);
    const std::string rel = resolve_relative(root, mount.source, true).string();
    const ContextFilter filter(build.ignore);
    struct stat st {};
    const bool exists = ::stat((root / rel).c_str(), &st) == 0;
    if (!exists || filter.skip(rel, S_ISDIR(st.st_mode)))
        throw Error("'" + (mount.source.empty() ? "." : mount.source) + "' is not in the build context" +
                    (exists ? " (.dockerignore leaves it out)" : ""));
    CopySource source;
    source.pattern = mount.source.empty() ? "." : mount.source;
    source.matched = mount.source;
    source.path = root / rel;
    source.rel = rel;
    source.is_dir = S_ISDIR(st.st_mode);
    mount.source = rel;
    mount.source_key = build.context_hashes.digest(source, filter);
}

std::string image_top_chain_id(const BuildShared& build, const std::string& reference) {
    const auto image = build.images.resolve(reference, "RUN --mount from=" + reference);
    const auto chains = store::chain_ids(build.store.load_image(image.manifest).diff_ids());
    return chains.empty() ? "" : chains.back();
}

void resolve_bind(const StageBuild& stage, const parser::Mount& flag, const Expander& expand, RunMount& mount) {
    mount.source = clean_relative(expand.word(flag.source)).string();
    if (flag.from_stage) {
        mount.from = RunMount::From::stage;
        mount.from_stage = *flag.from_stage;
        mount.source_key = stage.build.finished_stage(*flag.from_stage).top_chain_id();
    } else if (!flag.from.empty()) {
        mount.from = RunMount::From::image;
        mount.from_image = expand.word(flag.from);
        mount.source_key = image_top_chain_id(stage.build, mount.from_image);
    } else {
        resolve_context_source(stage, mount);
    }
}

void resolve_cache(const parser::Mount& flag, const Expander& expand, RunMount& mount) {
    if (!flag.from.empty() || !flag.source.empty())
        throw Error("seeding a cache mount with from= or source= is not supported yet");
    mount.id = expand.word(flag.id);
    if (mount.id.empty()) mount.id = mount.target;  // BuildKit's default
    const std::string sharing = expand.word(flag.sharing);
    if (!sharing.empty()) mount.sharing = sharing;
    if (mount.sharing != "shared" && mount.sharing != "private" && mount.sharing != "locked")
        throw Error("unsupported sharing value \"" + mount.sharing + "\" (expected shared, private or locked)");
}

void resolve_secret(const parser::Mount& flag, const Expander& expand, RunMount& mount) {
    mount.env = expand.word(flag.env);
    mount.id = expand.word(flag.id);
    if (mount.id.empty()) mount.id = expand.word(flag.source);  // the old spelling
    if (mount.id.empty()) mount.id = mount.target.empty() ? mount.env : basename_of(mount.target);
    if (mount.target.empty() && mount.env.empty()) mount.target = "/run/secrets/" + basename_of(mount.id);
    if (!mount.mode) mount.mode = 0400;
}

void resolve_ssh(const parser::Mount& flag, const Expander& expand, int ssh_index, RunMount& mount) {
    if (flag.mode || flag.uid || flag.gid)
        throw Error("mode, uid and gid are not supported for ssh mounts (the agent's socket is mounted as it is)");
    mount.id = expand.word(flag.id);
    if (mount.id.empty()) mount.id = "default";
    if (mount.target.empty()) mount.target = "/run/buildkit/ssh_agent." + std::to_string(ssh_index);
}

RunMount resolve_mount(const StageBuild& stage, const parser::Mount& flag, const Expander& expand, int& ssh_count) {
    RunMount mount;
    mount.name = describe(flag);
    return with_context(mount.name, [&] {
        mount.type = expand.word(flag.type);
        std::transform(mount.type.begin(), mount.type.end(), mount.type.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        mount.target = expand.target(flag.target);
        mount.read_only = flag.readonly;
        mount.required = flag.required;
        mount.mode = flag.mode;
        mount.uid = flag.uid;
        mount.gid = flag.gid;
        mount.size = flag.size;
        const bool needs_target = mount.type == "bind" || mount.type == "cache" || mount.type == "tmpfs";
        if (needs_target && mount.target.empty()) throw Error("target= is required");
        if (mount.target == "/") throw Error("the target cannot be the root directory");
        if (mount.type == "bind") {
            resolve_bind(stage, flag, expand, mount);
        } else if (mount.type == "cache") {
            resolve_cache(flag, expand, mount);
        } else if (mount.type == "tmpfs") {
            // nothing beyond the target and size
        } else if (mount.type == "secret") {
            resolve_secret(flag, expand, mount);
        } else if (mount.type == "ssh") {
            resolve_ssh(flag, expand, ssh_count++, mount);
        } else {
            throw Error("unsupported mount type \"" + mount.type + "\" (expected bind, cache, tmpfs, secret or ssh)");
        }
        return mount;
    });
}

nlohmann::json optional_number(const std::optional<unsigned>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json describe_for_key(const RunMount& m) {
    nlohmann::json j = {{"type", m.type}, {"target", m.target}};
    if (m.type == "bind") {
        static const char* const from_names[] = {"context", "stage", "image"};
        j["from"] = from_names[static_cast<int>(m.from)];
        j["source"] = m.source;
        j["content"] = m.source_key;  // the context's digest, or the stage's or image's chain id
        j["readonly"] = m.read_only;
    } else if (m.type == "cache") {
        j.update({{"id", m.id}, {"sharing", m.sharing}, {"readonly", m.read_only}, {"mode", optional_number(m.mode)},
                  {"uid", optional_number(m.uid)}, {"gid", optional_number(m.gid)}});
    } else if (m.type == "tmpfs") {
        j["size"] = m.size ? nlohmann::json(*m.size) : nlohmann::json(nullptr);
    } else if (m.type == "secret") {
        // Which secret, never its value: BuildKit's key does not change with it either.
        j.update({{"id", m.id}, {"env", m.env}, {"required", m.required}, {"mode", optional_number(m.mode)},
                  {"uid", optional_number(m.uid)}, {"gid", optional_number(m.gid)}});
    } else if (m.type == "ssh") {
        j.update({{"id", m.id}, {"required", m.required}});
    }
    return j;
}

} // namespace

RunMounts::RunMounts(const StageBuild& stage, const parser::Instruction& step, const ImageState& state) {
    const Expander expand{stage, stage.expansion_env(state), state.working_dir().empty() ? "/" : state.working_dir()};
    int ssh_count = 0;
    for (const auto& flag : step.mounts) mounts_.push_back(resolve_mount(stage, flag, expand, ssh_count));
}

nlohmann::json RunMounts::record() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& mount : mounts_) list.push_back(describe_for_key(mount));
    return list;
}

// ----- while the command runs

struct ActiveMounts::Resources {
    explicit Resources(const store::Store& store) : scratch(store.tmp_dir(), "mounts-") {}

    fs::path next_dir(const char* kind) {
        const fs::path dir = scratch.path() / (std::string(kind) + "-" + std::to_string(next_name++));
        make_dirs(dir);
        return dir;
    }
    // The private tmpfs, mounted on first use.
    const fs::path& files_dir() {
        if (!files) files.emplace(next_dir("files"));
        return files->path();
    }

    // Declared in the order they must be released in reverse: mounts inside scratch go
    // before it, a throwaway overlay before the view below it.
    TempDir scratch;
    std::optional<sandbox::PrivateTmpfs> files;
    std::vector<std::unique_ptr<sandbox::ReadOnlyView>> views;
    std::vector<std::unique_ptr<sandbox::ThrowawayView>> throwaways;
    std::map<std::string, store::CacheMount> caches;  // by id: one RUN may name an id twice
    int next_name = 0;
};

namespace {

sandbox::Mount bind_mount(const fs::path& source, const std::string& target, bool read_only) {
    sandbox::Mount m;
    m.source = source;
    m.target = target;
    m.read_only = read_only;
    return m;
}

// The root a bind's source is found in: the context, or a read-only view of a stage's or
// an image's layers.
fs::path bind_root(const StageBuild& stage, const RunMount& mount, ActiveMounts::Resources& resources) {
    const BuildShared& build = stage.build;
    std::vector<fs::path> layers;
    if (mount.from == RunMount::From::context) return fs::absolute(build.options.context_dir);
    if (mount.from == RunMount::From::stage) {
        layers = build.finished_stage(mount.from_stage).snapshot_dirs_topmost_first(build.store);
    } else {
        const auto image = build.images.resolve(mount.from_image, "RUN --mount from=" + mount.from_image);
        layers = build.store.ensure_snapshots(build.store.load_image(image.manifest));
        std::reverse(layers.begin(), layers.end());  // topmost first
    }
    resources.views.push_back(std::make_unique<sandbox::ReadOnlyView>(layers, resources.next_dir("view")));
    return resources.views.back()->path();
}

// What the container sees at a bind's target: the source as it is (read-only), or a copy
// or an overlay of it whose writes are thrown away (rw, BuildKit's semantics), or a copy
// without what .dockerignore leaves out.
fs::path bind_source(const StageBuild& stage, const RunMount& mount, ActiveMounts::Resources& resources) {
    const fs::path root = bind_root(stage, mount, resources);
    const fs::path path = resolve_in_root(root, mount.source, true);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw Error("'" + (mount.source.empty() ? "/" : mount.source) + "' does not exist in " +
                    (mount.from == RunMount::From::stage ? "the stage" : mount.from == RunMount::From::image ? "the image" : "the build context"));
    const bool is_dir = S_ISDIR(st.st_mode);
    const IgnoreMatcher& ignore = stage.build.ignore;
    const bool filtered = mount.from == RunMount::From::context && !ignore.empty();
    if (filtered || (!mount.read_only && !is_dir)) {
        const fs::path copy = resources.next_dir("copy") / (is_dir ? "root" : path.filename().string());
        const ContextFilter filter = filtered ? ContextFilter(ignore) : ContextFilter();
        const std::string rel = fs::relative(path, root).string();
        CopySource source;
        source.pattern = mount.source;
        source.matched = mount.source;
        source.path = path;
        source.rel = rel == "." ? "" : rel;
        source.is_dir = is_dir;
        copy_entry(source, copy, filter);
        return copy;  // a copy of its own: writes to it go nowhere
    }
    if (mount.read_only) return path;
    resources.throwaways.push_back(std::make_unique<sandbox::ThrowawayView>(path, resources.next_dir("rw")));
    return resources.throwaways.back()->path();
}

store::CacheSharing sharing_of(const std::string& text) {
    if (text == "private") return store::CacheSharing::private_instance;
    if (text == "locked") return store::CacheSharing::locked;
    return store::CacheSharing::shared;
}

// The secret's value, or nullopt when it was not given (or its variable is not set).
std::optional<std::string> read_secret(const BuildOptions& options, const std::string& id) {
    const auto it = options.secrets.find(id);
    if (it == options.secrets.end()) return std::nullopt;
    const SecretSource& source = it->second;
    if (!source.env.empty()) {
        const char* value = std::getenv(source.env.c_str());
        if (!value) return std::nullopt;
        return std::string(value);
    }
    return read_file(source.file);
}

std::string hint_for_secret(const std::string& id) {
    return "secret '" + id + "' was not given (--secret id=" + id + ",src=<file> or --secret id=" + id + ",env=<variable>)";
}

} // namespace

ActiveMounts::ActiveMounts(const StageBuild& stage, const RunMounts& mounts)
    : resources_(std::make_unique<Resources>(stage.build.store)) {
    const BuildShared& build = stage.build;
    bool ssh_socket_set = false;
    for (const auto& mount : mounts.mounts()) {
        with_context(mount.name, [&] {
            if (mount.type == "bind") {
                sandbox_mounts_.push_back(bind_mount(bind_source(stage, mount, *resources_), mount.target, mount.read_only));
            } else if (mount.type == "cache") {
                auto it = resources_->caches.find(mount.id);
                if (it == resources_->caches.end()) {
                    const store::CacheDirAttributes attributes{mount.mode.value_or(0755), mount.uid.value_or(0),
                                                               mount.gid.value_or(0)};
                    it = resources_->caches
                             .emplace(mount.id, store::acquire_cache_mount(build.store, mount.id, sharing_of(mount.sharing),
                                                                           attributes))
                             .first;
                }
                sandbox_mounts_.push_back(bind_mount(it->second.path(), mount.target, mount.read_only));
            } else if (mount.type == "tmpfs") {
                sandbox::Mount m;
                m.kind = sandbox::Mount::Kind::tmpfs;
                m.target = mount.target;
                m.size_bytes = mount.size;
                sandbox_mounts_.push_back(m);
            } else if (mount.type == "secret") {
                const auto value = read_secret(build.options, mount.id);
                if (!value) {
                    if (mount.required) throw Error(hint_for_secret(mount.id));
                    return;  // BuildKit skips a secret that is not required
                }
                if (!mount.target.empty()) {
                    const fs::path file = resources_->files_dir() / ("secret-" + std::to_string(resources_->next_name++));
                    write_file_atomic(file, *value, mount.mode.value_or(0400));
                    if (::chown(file.c_str(), mount.uid.value_or(0), mount.gid.value_or(0)) != 0)
                        throw_errno("chown", file.string());
                    sandbox_mounts_.push_back(bind_mount(file, mount.target, true));
                }
                if (!mount.env.empty()) env_.push_back(mount.env + "=" + *value);
            } else if (mount.type == "ssh") {
                const auto it = build.options.ssh_agents.find(mount.id);
                if (it == build.options.ssh_agents.end()) {
                    if (mount.required)
                        throw Error("no ssh agent '" + mount.id + "' was given (--ssh " + mount.id + "=<socket>" +
                                    (mount.id == "default" ? " or --ssh default" : "") + ")");
                    return;
                }
                sandbox_mounts_.push_back(bind_mount(it->second, mount.target, true));
                if (!ssh_socket_set) env_.push_back("SSH_AUTH_SOCK=" + mount.target);
                ssh_socket_set = true;
            }
        });
    }
    // Parents before what lands inside them: "/a" before "/a/b".
    std::stable_sort(sandbox_mounts_.begin(), sandbox_mounts_.end(),
                     [](const sandbox::Mount& a, const sandbox::Mount& b) { return a.target < b.target; });
}

ActiveMounts::~ActiveMounts() = default;

void ActiveMounts::add_file(const std::string& target, const std::string& content, unsigned mode) {
    const fs::path file = resources_->files_dir() / ("file-" + std::to_string(resources_->next_name++));
    write_file_atomic(file, content, mode);
    sandbox_mounts_.push_back(bind_mount(file, target, true));
    std::stable_sort(sandbox_mounts_.begin(), sandbox_mounts_.end(),
                     [](const sandbox::Mount& a, const sandbox::Mount& b) { return a.target < b.target; });
}

// ----- the command line

std::pair<std::string, SecretSource> parse_secret_flag(const std::string& text) {
    return with_context("--secret " + text, [&] {
        std::string id, type, src, env;
        std::size_t start = 0;
        while (start <= text.size()) {
            auto end = text.find(',', start);
            if (end == std::string::npos) end = text.size();
            const std::string field = text.substr(start, end - start);
            start = end + 1;
            const auto eq = field.find('=');
            if (eq == std::string::npos) throw Error("invalid field '" + field + "' must be a key=value pair");
            const std::string key = field.substr(0, eq);
            const std::string value = field.substr(eq + 1);
            if (key == "id") id = value;
            else if (key == "type") type = value;
            else if (key == "src" || key == "source") src = value;
            else if (key == "env") env = value;
            else throw Error("unexpected key '" + key + "' in '" + field + "'");
        }
        if (!type.empty() && type != "file" && type != "env") throw Error("unsupported secret type \"" + type + "\"");
        if (type == "env" && env.empty()) std::swap(env, src);  // type=env,src=VAR
        if (id.empty()) id = !env.empty() ? env : fs::path(src).filename().string();
        if (id.empty()) throw Error("an id is required");
        if (!src.empty() && !env.empty()) throw Error("give either src= or env=, not both");
        SecretSource source;
        if (!env.empty()) {
            source.env = env;
        } else if (!src.empty()) {
            source.file = fs::absolute(src);
        } else if (type != "file" && std::getenv(id.c_str())) {
            source.env = id;  // buildx: a bare id is a variable when one of that name is set
        } else {
            source.file = fs::absolute(id);
        }
        return std::pair{id, source};
    });
}

std::pair<std::string, fs::path> parse_ssh_flag(const std::string& text, const char* ssh_auth_sock) {
    return with_context("--ssh " + text, [&] {
        const auto eq = text.find('=');
        const std::string id = text.substr(0, eq);
        std::string path = eq == std::string::npos ? "" : text.substr(eq + 1);
        if (id.empty()) throw Error("an id is required");
        if (path.empty()) {
            if (id != "default") throw Error("a socket path is required (--ssh " + id + "=<socket>)");
            if (!ssh_auth_sock || !*ssh_auth_sock) throw Error("SSH_AUTH_SOCK is not set");
            path = ssh_auth_sock;
        }
        if (path.find(',') != std::string::npos) throw Error("only one agent socket per id is supported");
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path);
        if (!S_ISSOCK(st.st_mode))
            throw Error("'" + path + "' is not a socket (key files are not supported: add them to ssh-agent and give its socket)");
        return std::pair{id, fs::absolute(path)};
    });
}

} // namespace strata::builder
