#pragma once
// Registry credentials where docker and podman keep them, read by both tools' rules:
//
//   ${REGISTRY_AUTH_FILE} or ${XDG_RUNTIME_DIR}/containers/auth.json   podman's, read first
//   ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json                 podman's fallback
//   ${DOCKER_CONFIG:-~/.docker}/config.json                            docker's
//
// In each: credHelpers[host] names a helper for that registry; else auths[key].auth is
// base64("user:password") (identitytoken: an OAuth refresh token); else credsStore names
// the helper holding them all. A helper is `docker-credential-NAME get|store|erase`, the
// server on stdin, JSON on stdout, as docker runs it.
//
// `login` writes to auth.json when XDG_RUNTIME_DIR (or REGISTRY_AUTH_FILE) is set, as
// podman does, else to docker's config.json; through the file's helper when it names one.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::registry {

namespace fs = std::filesystem;

struct Credentials {
    std::string username;
    std::string password;
    std::string identity_token;  // a refresh token for the token service, instead of a password
};

struct CredentialFiles {
    std::vector<fs::path> read_order;  // existing or not
    fs::path login_file;               // where `login` writes
};
// The files above, from the environment.
CredentialFiles credential_files_from_environment();

// The key a registry has in auths: docker.io is "https://index.docker.io/v1/" in docker's
// config.json and "docker.io" in auth.json; others are "host[:port]".
std::string auths_key(std::string_view registry, bool docker_config);

// Whether an auths key names this registry: "reg:5000", "https://reg:5000", "http://reg:5000/v1/".
// Podman's "reg/namespace" keys match repositories under that namespace.
bool key_matches(std::string_view key, std::string_view registry, std::string_view repository = {});

// The first credentials found for a registry (a domain as in a reference: "docker.io",
// "reg:5000"), or nullopt: anonymous.
std::optional<Credentials> find_credentials(const CredentialFiles& files, std::string_view registry,
                                            std::string_view repository = {});

// Saves credentials for `registry` in files.login_file (mode 0600, written atomically,
// other entries kept), or in that file's credential helper.
void store_credentials(const CredentialFiles& files, std::string_view registry, const Credentials& credentials);

// Removes a registry's credentials from every file (and helper) holding them; false when
// none did.
bool erase_credentials(const CredentialFiles& files, std::string_view registry);

// docker-credential-<helper> <action>, `input` on stdin; its stdout. Throws with its
// stderr/stdout when it fails; nullopt when it says the credentials are not found.
std::optional<std::string> run_credential_helper(const std::string& helper, const std::string& action,
                                                 const std::string& input);

} // namespace strata::registry
