#pragma once
// RUN --mount, with BuildKit's semantics, in two steps: RunMounts expands and checks the
// flags and describes them for the step's cache key (before the cache is asked; a bind's
// content digest stands in for its files, a secret is named but never read), and
// ActiveMounts makes them real only when the step runs (cache directories taken, views
// mounted, secrets written to a private tmpfs) and releases everything afterwards.
#include "builder/builder.hpp"
#include "builder/image_state.hpp"
#include "parser/buildfile.hpp"
#include "sandbox/sandbox.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace strata::builder {

class StageBuild;

// One --mount after expansion and defaults, with everything the cache key needs.
struct RunMount {
    std::string name;    // "RUN --mount=type=secret,id=foo": how errors name it
    std::string type;    // bind | cache | tmpfs | secret | ssh
    std::string target;  // absolute in the container; "" for a secret exposed only as env
    bool read_only = true;

    // bind (and the source of nothing else yet)
    enum class From { context, stage, image };
    From from = From::context;
    int from_stage = -1;       // From::stage
    std::string from_image;    // From::image: the reference as written
    std::string source;        // clean, relative to the source's root ("" = all of it)
    std::string source_key;    // context: content digest; stage/image: top chain id

    // cache, secret, ssh
    std::string id;
    std::string sharing = "shared";  // cache
    std::optional<unsigned> mode, uid, gid;
    bool required = false;  // secret, ssh
    std::string env;        // secret: also (or only) exposed as this variable

    std::optional<std::int64_t> size;  // tmpfs
};

class RunMounts {
public:
    // Throws naming the mount ("RUN --mount=type=bind,source=x: ...").
    RunMounts(const StageBuild& stage, const parser::Instruction& step, const ImageState& state);

    const std::vector<RunMount>& mounts() const noexcept { return mounts_; }
    // For the step's cache record: the mounts as described above, in order.
    nlohmann::json record() const;

private:
    std::vector<RunMount> mounts_;
};

// The resources behind a step's mounts while its command runs; destroyed right after it.
class ActiveMounts {
public:
    // Throws naming the mount, e.g. "RUN --mount=type=secret,id=foo: secret 'foo' was not
    // given (--secret id=foo,src=...)" for a required secret that is missing.
    ActiveMounts(const StageBuild& stage, const RunMounts& mounts);
    ActiveMounts(const ActiveMounts&) = delete;
    ActiveMounts& operator=(const ActiveMounts&) = delete;
    ~ActiveMounts();

    // A file of this content, read-only at `target` (a heredoc script): it lives in the
    // private tmpfs, never in a layer.
    void add_file(const std::string& target, const std::string& content, unsigned mode);

    const std::vector<sandbox::Mount>& sandbox_mounts() const noexcept { return sandbox_mounts_; }
    // "K=V" to add to the command's environment: secrets with env=, SSH_AUTH_SOCK.
    const std::vector<std::string>& env() const noexcept { return env_; }

    struct Resources;  // what backs the mounts (views, cache locks, the private tmpfs); run_mounts.cpp

private:
    std::unique_ptr<Resources> resources_;
    std::vector<sandbox::Mount> sandbox_mounts_;
    std::vector<std::string> env_;
};

// `strata build --secret id=foo,src=path` / `id=foo,env=VAR` / `id=foo` (docker buildx's
// syntax; `type=file|env` too). A bare id takes the variable of that name when it is set,
// else the file of that name. Throws naming the text.
std::pair<std::string, SecretSource> parse_secret_flag(const std::string& text);
// `--ssh default` (the agent at $SSH_AUTH_SOCK, given as ssh_auth_sock) or `--ssh id=socket`.
// Only an agent's socket is accepted: key files would need an agent of strata's own.
std::pair<std::string, fs::path> parse_ssh_flag(const std::string& text, const char* ssh_auth_sock);

} // namespace strata::builder
