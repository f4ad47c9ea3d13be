#include "registry/credentials.hpp"

#include "registry/auth.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace strata::registry {

namespace {

using json = nlohmann::json;

fs::path home() { return nonempty_env("HOME").value_or("/root"); }

bool is_docker_config(const fs::path& path) { return path.filename() == "config.json"; }

bool is_docker_hub(std::string_view registry) {
    return registry == "docker.io" || registry == "index.docker.io" || registry == "registry-1.docker.io";
}

// A credentials file as JSON; an empty object when it does not exist.
json read_config(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return json::object();
    const std::string text = read_file(path);
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) throw Error("'" + path.string() + "' is not a JSON object");
    return doc;
}

void write_config(const fs::path& path, const json& doc) {
    make_dirs(path.parent_path(), 0700);
    write_file_atomic(path, doc.dump(1, '\t') + "\n", 0600);
}

std::optional<std::string> string_at(const json& object, const char* key) {
    if (!object.is_object()) return std::nullopt;
    const auto it = object.find(key);
    if (it == object.end() || !it->is_string() || it->get<std::string>().empty()) return std::nullopt;
    return it->get<std::string>();
}

// The helper a file names for a registry: credHelpers first, then credsStore.
std::optional<std::string> helper_for(const json& config, std::string_view registry) {
    if (const auto helpers = config.find("credHelpers"); helpers != config.end() && helpers->is_object()) {
        for (const auto& [key, value] : helpers->items()) {
            if (value.is_string() && key_matches(key, registry)) return value.get<std::string>();
        }
    }
    return string_at(config, "credsStore");
}

std::optional<Credentials> from_helper(const std::string& helper, std::string_view registry) {
    const auto output = run_credential_helper(helper, "get", auths_key(registry, true));
    if (!output) return std::nullopt;
    const json doc = json::parse(*output, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        throw Error("docker-credential-" + helper + " answered something that is not JSON");
    Credentials credentials;
    credentials.username = string_at(doc, "Username").value_or("");
    const std::string secret = string_at(doc, "Secret").value_or("");
    if (credentials.username == "<token>") credentials.identity_token = secret;  // docker's marker
    else credentials.password = secret;
    if (credentials.username.empty() && secret.empty()) return std::nullopt;
    return credentials;
}

std::optional<Credentials> from_auths_entry(const json& entry, const fs::path& file) {
    Credentials credentials;
    if (const auto auth = string_at(entry, "auth")) {
        const auto decoded = base64_decode(*auth);
        const auto colon = decoded ? decoded->find(':') : std::string::npos;
        if (colon == std::string::npos) throw Error("'" + file.string() + "': an auths entry's \"auth\" is not base64 of user:password");
        credentials.username = decoded->substr(0, colon);
        credentials.password = decoded->substr(colon + 1);
    }
    if (const auto token = string_at(entry, "identitytoken")) credentials.identity_token = *token;
    if (credentials.username.empty() && credentials.password.empty() && credentials.identity_token.empty()) return std::nullopt;
    return credentials;
}

// The most specific auths entry for a repository (podman's namespace keys beat the host's).
const json* matching_entry(const json& auths, std::string_view registry, std::string_view repository) {
    const json* best = nullptr;
    std::size_t best_length = 0;
    for (const auto& [key, value] : auths.items()) {
        if (!key_matches(key, registry, repository)) continue;
        if (!best || key.size() > best_length) {
            best = &value;
            best_length = key.size();
        }
    }
    return best;
}

std::optional<Credentials> from_file(const fs::path& path, std::string_view registry, std::string_view repository) {
    return with_context("reading credentials from '" + path.string() + "'", [&]() -> std::optional<Credentials> {
        const json config = read_config(path);
        if (const auto helpers = config.find("credHelpers"); helpers != config.end() && helpers->is_object()) {
            for (const auto& [key, value] : helpers->items()) {
                if (value.is_string() && key_matches(key, registry)) return from_helper(value.get<std::string>(), registry);
            }
        }
        if (const auto auths = config.find("auths"); auths != config.end() && auths->is_object()) {
            if (const json* entry = matching_entry(*auths, registry, repository)) {
                if (auto credentials = from_auths_entry(*entry, path)) return credentials;
            }
        }
        if (const auto store = string_at(config, "credsStore")) return from_helper(*store, registry);
        return std::nullopt;
    });
}

// "https://reg:5000/v1/" -> "reg:5000"; "reg/ns" stays.
std::string normalised_key(std::string_view key) {
    if (const auto scheme = key.find("://"); scheme != std::string_view::npos) {
        key.remove_prefix(scheme + 3);
        key = key.substr(0, key.find('/'));  // a URL's path ("/v1/") is not a namespace
    }
    while (key.ends_with('/')) key.remove_suffix(1);
    return std::string(key);
}

// A child process's pid, waited for on destruction when nobody did.
class Child {
public:
    explicit Child(pid_t pid) : pid_(pid) {}
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() {
        if (pid_ > 0) {
            int status = 0;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }
    int wait() {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0) {
            if (errno != EINTR) throw_errno("waitpid");
        }
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

private:
    pid_t pid_;
};

Child spawn_helper(const std::string& program, const std::string& action, Pipe& input, Pipe& output) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, input.read.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, output.write.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, output.write.get(), STDERR_FILENO);
    std::vector<char*> argv{const_cast<char*>(program.c_str()), const_cast<char*>(action.c_str()), nullptr};
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw_error_code("run", program, rc);
    return Child(pid);
}

} // namespace

CredentialFiles credential_files_from_environment() {
    CredentialFiles files;
    const auto auth_file = nonempty_env("REGISTRY_AUTH_FILE");
    const auto runtime_dir = nonempty_env("XDG_RUNTIME_DIR");
    if (auth_file) files.read_order.emplace_back(*auth_file);
    else if (runtime_dir) files.read_order.push_back(fs::path(*runtime_dir) / "containers" / "auth.json");
    const fs::path config_home = nonempty_env("XDG_CONFIG_HOME").value_or((home() / ".config").string());
    files.read_order.push_back(config_home / "containers" / "auth.json");
    const fs::path docker_dir = nonempty_env("DOCKER_CONFIG").value_or((home() / ".docker").string());
    files.read_order.push_back(docker_dir / "config.json");
    files.login_file = (auth_file || runtime_dir) ? files.read_order.front() : files.read_order.back();
    return files;
}

std::string auths_key(std::string_view registry, bool docker_config) {
    if (is_docker_hub(registry)) return docker_config ? "https://index.docker.io/v1/" : "docker.io";
    return std::string(registry);
}

bool key_matches(std::string_view key, std::string_view registry, std::string_view repository) {
    std::string normal = normalised_key(key);
    if (is_docker_hub(registry) && (normal == "index.docker.io" || normal == "registry-1.docker.io")) normal = "docker.io";
    if (is_docker_hub(normal)) normal = "docker.io";
    const std::string wanted = is_docker_hub(registry) ? "docker.io" : std::string(registry);
    if (normal == wanted) return true;
    // podman: "reg/ns" names the repositories under reg/ns
    const std::string full = wanted + "/" + std::string(repository);
    return !repository.empty() && normal.size() > wanted.size() && normal.starts_with(wanted + "/") &&
           (full == normal || full.starts_with(normal + "/"));
}

std::optional<Credentials> find_credentials(const CredentialFiles& files, std::string_view registry, std::string_view repository) {
    for (const auto& path : files.read_order) {
        if (auto credentials = from_file(path, registry, repository)) return credentials;
    }
    return std::nullopt;
}

void store_credentials(const CredentialFiles& files, std::string_view registry, const Credentials& credentials) {
    const fs::path& path = files.login_file;
    with_context("saving credentials in '" + path.string() + "'", [&] {
        json config = read_config(path);
        const bool docker = is_docker_config(path);
        if (const auto helper = helper_for(config, registry)) {
            const json input{{"ServerURL", auths_key(registry, true)},
                             {"Username", credentials.identity_token.empty() ? credentials.username : "<token>"},
                             {"Secret", credentials.identity_token.empty() ? credentials.password : credentials.identity_token}};
            run_credential_helper(*helper, "store", input.dump());
            return;
        }
        json& auths = config["auths"];
        if (!auths.is_object()) auths = json::object();
        for (auto it = auths.begin(); it != auths.end();) {  // one entry per registry
            if (key_matches(it.key(), registry)) it = auths.erase(it);
            else ++it;
        }
        json entry{{"auth", base64_encode(credentials.username + ":" + credentials.password)}};
        if (!credentials.identity_token.empty()) entry["identitytoken"] = credentials.identity_token;
        auths[auths_key(registry, docker)] = std::move(entry);
        write_config(path, config);
    });
}

bool erase_credentials(const CredentialFiles& files, std::string_view registry) {
    bool erased = false;
    for (const auto& path : files.read_order) {
        std::error_code ec;
        if (!fs::exists(path, ec)) continue;
        with_context("removing credentials from '" + path.string() + "'", [&] {
            json config = read_config(path);
            if (const auto helper = helper_for(config, registry))
                erased = run_credential_helper(*helper, "erase", auths_key(registry, true)).has_value() || erased;
            const auto auths = config.find("auths");
            if (auths == config.end() || !auths->is_object()) return;
            bool changed = false;
            for (auto it = auths->begin(); it != auths->end();) {
                if (key_matches(it.key(), registry)) {
                    it = auths->erase(it);
                    changed = true;
                } else {
                    ++it;
                }
            }
            if (changed) write_config(path, config);
            erased = erased || changed;
        });
    }
    return erased;
}

std::optional<std::string> run_credential_helper(const std::string& helper, const std::string& action, const std::string& input) {
    const std::string program = "docker-credential-" + helper;
    return with_context(program + " " + action, [&]() -> std::optional<std::string> {
        Pipe to_child = make_pipe();
        Pipe from_child = make_pipe();
        Child child = spawn_helper(program, action, to_child, from_child);
        to_child.read.reset();
        from_child.write.reset();
        // Small input: it fits the pipe, so writing all before reading cannot deadlock.
        try {
            write_all(to_child.write.get(), input.data(), input.size(), program.c_str());
        } catch (const SysError& e) {
            if (e.error_code() != EPIPE) throw;  // a helper that exits without reading says why below
        }
        to_child.write.reset();
        std::string output;
        char buffer[4096];
        while (const std::size_t n = read_some(from_child.read.get(), buffer, sizeof buffer, program.c_str()))
            output.append(buffer, n);
        const int status = child.wait();
        if (status == 0) return output;
        if (output.find("credentials not found") != std::string::npos) return std::nullopt;
        while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
        throw Error("exited with status " + std::to_string(status) + (output.empty() ? "" : ": " + output));
    });
}

} // namespace strata::registry
