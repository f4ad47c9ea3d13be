#pragma once
// Debian's docker-registry on 127.0.0.1 for the integration tests that talk to a registry
// (registry_test.cpp, lock_test.cpp): the process, its config and data, and a client
// environment (an empty store, credential files, certs.d) to run strata in.
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>

namespace strata::test {

// Why these tests cannot run here ("" when they can). The integration executable is
// shared, so a missing peer tool skips these tests with a printed reason (WARN) rather
// than exiting 77, which would hide the other tests' results.
inline std::string missing_tools() {
    for (const char* tool : {"docker-registry", "openssl", "htpasswd", "skopeo", "curl"}) {
        if (!installed(tool)) return std::string(tool) + " is not installed (scripts/setup.sh installs it)";
    }
    if (sh("/usr/bin/python3 -c 'import jwt, cryptography'").exit_code != 0)
        return "python3-jwt and python3-cryptography are not installed";
    return {};
}

#define REQUIRE_REGISTRY_TOOLS()                                             \
    do {                                                                     \
        static const std::string missing = missing_tools();                  \
        if (!missing.empty()) {                                              \
            WARN("SKIPPED: the registry tests need what is missing: " << missing); \
            return;                                                          \
        }                                                                    \
    } while (false)

inline int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
}

// A background process started through the shell, killed (SIGKILL) on destruction.
class Background {
public:
    Background() = default;
    explicit Background(const std::string& command, const std::filesystem::path& log) {
        const auto started = sh_stdout(command + " > " + quote(log.string()) + " 2>&1 & echo $!");
        pid_ = std::stoi(started.output);
    }
    Background(Background&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
    Background& operator=(Background&& other) noexcept {
        stop(SIGKILL);
        pid_ = std::exchange(other.pid_, -1);
        return *this;
    }
    ~Background() { stop(SIGKILL); }
    void stop(int signal) {
        if (pid_ <= 0) return;
        ::kill(pid_, signal);
        for (int i = 0; i < 100 && ::kill(pid_, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        pid_ = -1;
    }

private:
    int pid_ = -1;
};

inline void wait_for_http(const std::string& url) {
    for (int i = 0; i < 100; ++i) {
        const auto code = sh_stdout("curl -sk -o /dev/null -w '%{http_code}' " + quote(url));
        if (code.output != "000") return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL("nothing answers at " << url);
}

// Debian's docker-registry (distribution 2.8) with a config of its own, data kept across restarts.
class LocalRegistry {
public:
    struct Tls {
        std::filesystem::path cert, key;
    };
    explicit LocalRegistry(std::optional<Tls> tls = std::nullopt, std::string auth = "") : tls_(std::move(tls)), auth_(std::move(auth)) {
        port_ = free_port();
        start();
    }
    void start() {
        std::string config = "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: " + data().string() +
                             "\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
        if (tls_) config += "  tls:\n    certificate: " + tls_->cert.string() + "\n    key: " + tls_->key.string() + "\n";
        config += auth_;
        write_text(dir_.path() / "config.yml", config);
        process_ = Background("exec docker-registry serve " + quote((dir_.path() / "config.yml").string()), dir_.path() / "log");
        wait_for_http(std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/v2/");
    }
    void kill() { process_.stop(SIGKILL); }
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    std::filesystem::path data() const { return dir_.path() / "data"; }
    std::string log() const { return read_text(dir_.path() / "log"); }
    // The file holding a blob in distribution's filesystem layout.
    std::filesystem::path blob_file(const std::string& digest) const {
        const std::string hex = digest.substr(7);
        return data() / "docker/registry/v2/blobs/sha256" / hex.substr(0, 2) / hex / "data";
    }

private:
    ScratchDir dir_{"strata-registry-"};
    std::optional<Tls> tls_;
    std::string auth_;
    int port_ = 0;
    Background process_;
};

// An empty store and the environment strata runs with (credential files, certs.d).
struct Client {
    ScratchDir dir{"strata-client-"};
    std::filesystem::path root = dir.path() / "root";
    std::string env = "HOME=" + quote((dir.path() / "home").string()) + " XDG_RUNTIME_DIR=" + quote((dir.path() / "run").string()) +
                      " STRATA_CERTS_DIRS=" + quote((dir.path() / "certs.d").string());
    CommandResult strata(const std::string& args) const {
        return sh(env + " " + quote(STRATA_BINARY) + " --root " + quote(root.string()) + " " + args);
    }
    CommandResult strata_stdout(const std::string& args) const {
        return sh_stdout(env + " " + quote(STRATA_BINARY) + " --root " + quote(root.string()) + " " + args + " 2>/dev/null");
    }
    void trust(const std::string& host, const std::filesystem::path& ca) const {
        std::filesystem::create_directories(dir.path() / "certs.d" / host);
        std::filesystem::copy_file(ca, dir.path() / "certs.d" / host / "ca.crt", std::filesystem::copy_options::overwrite_existing);
    }
    std::filesystem::path auth_file() const { return dir.path() / "run" / "containers" / "auth.json"; }
};

} // namespace strata::test
