// Credentials in docker's config.json and podman's auth.json, and credential helpers (a
// fake docker-credential-fake script that keeps its secrets in a file).
#include "registry/credentials.hpp"

#include "registry/auth.hpp"
#include "tests/common/shell.hpp"
#include "util/error.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <sys/stat.h>

namespace credentials_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::registry;
using namespace strata::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string auth_of(const std::string& user, const std::string& password) { return base64_encode(user + ":" + password); }

// A helper on PATH: `get` prints what `store` kept for the server it reads on stdin.
struct FakeHelper {
    ScratchDir dir;
    std::string old_path = std::getenv("PATH");
    FakeHelper() {
        const fs::path script = dir.path() / "docker-credential-fake";
        write_text(script, "#!/bin/sh\n"
                           "store=" + quote((dir.path() / "kept").string()) + "\n"
                           "echo \"$1\" >> \"$store.log\"\n"
                           "case \"$1\" in\n"
                           "get) server=$(cat); f=\"$store.$(echo \"$server\" | tr -c 'a-zA-Z0-9\\n' _)\";\n"
                           "     if [ -f \"$f\" ]; then cat \"$f\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n"
                           "store) input=$(cat); server=$(echo \"$input\" | sed 's/.*\"ServerURL\":\"\\([^\"]*\\)\".*/\\1/');\n"
                           "     echo \"$input\" > \"$store.$(echo \"$server\" | tr -c 'a-zA-Z0-9\\n' _)\" ;;\n"
                           "erase) server=$(cat); rm -f \"$store.$(echo \"$server\" | tr -c 'a-zA-Z0-9\\n' _)\" ;;\n"
                           "broken) echo 'the keychain is locked'; exit 3 ;;\n"
                           "esac\n");
        fs::permissions(script, fs::perms::owner_all);
        ::setenv("PATH", (dir.path().string() + ":" + old_path).c_str(), 1);
    }
    ~FakeHelper() { ::setenv("PATH", old_path.c_str(), 1); }
    std::string log() const { return read_text(dir.path() / "kept.log"); }
};

CredentialFiles files_in(const ScratchDir& dir) {
    CredentialFiles files;
    files.read_order = {dir.path() / "run" / "containers" / "auth.json", dir.path() / "docker" / "config.json"};
    files.login_file = files.read_order.front();
    return files;
}

} // namespace

TEST_CASE("auths keys name registries as docker and podman write them", "[registry][credentials]") {
    CHECK(auths_key("docker.io", true) == "https://index.docker.io/v1/");
    CHECK(auths_key("docker.io", false) == "docker.io");
    CHECK(auths_key("reg:5000", true) == "reg:5000");
    CHECK(key_matches("https://index.docker.io/v1/", "docker.io"));
    CHECK(key_matches("docker.io", "docker.io"));
    CHECK(key_matches("reg:5000", "reg:5000"));
    CHECK(key_matches("https://reg:5000", "reg:5000"));
    CHECK(key_matches("http://reg:5000/v2/", "reg:5000"));
    CHECK_FALSE(key_matches("reg:5001", "reg:5000"));
    CHECK_FALSE(key_matches("reg", "reg:5000"));
    CHECK(key_matches("reg:5000/team", "reg:5000", "team/app"));
    CHECK_FALSE(key_matches("reg:5000/team", "reg:5000", "other/app"));
    CHECK_FALSE(key_matches("reg:5000/team", "reg:5000"));
}

TEST_CASE("credentials are read from auth.json before config.json", "[registry][credentials]") {
    ScratchDir dir;
    const auto files = files_in(dir);
    write_text(files.read_order[1], json{{"auths", {{"https://index.docker.io/v1/", {{"auth", auth_of("hub", "h")}}},
                                                    {"reg:5000", {{"auth", auth_of("docker", "d")}}}}}}
                                        .dump());
    CHECK_FALSE(find_credentials(files, "other:1").has_value());
    CHECK(find_credentials(files, "docker.io")->username == "hub");
    CHECK(find_credentials(files, "reg:5000")->password == "d");
    write_text(files.read_order[0], json{{"auths", {{"reg:5000", {{"auth", auth_of("podman", "p:w")}}},
                                                    {"reg:5000/team", {{"auth", auth_of("team", "t")}}}}}}
                                        .dump());
    const auto podman = find_credentials(files, "reg:5000");
    CHECK(podman->username == "podman");
    CHECK(podman->password == "p:w");
    CHECK(find_credentials(files, "reg:5000", "team/app")->username == "team");
    write_text(files.read_order[0], R"({"auths": {"reg:5000": {"auth": "not base64!"}}})");
    CHECK_THROWS_WITH(find_credentials(files, "reg:5000"), Catch::Contains("auth.json") && Catch::Contains("base64"));
    write_text(files.read_order[0], "{broken");
    CHECK_THROWS_WITH(find_credentials(files, "reg:5000"), Catch::Contains("not a JSON object"));
}

TEST_CASE("login writes one entry, atomically, mode 0600, keeping the rest", "[registry][credentials]") {
    ScratchDir dir;
    auto files = files_in(dir);
    write_text(files.login_file, R"({"auths": {"other:1": {"auth": "eDp5"}, "https://reg:5000": {"auth": "b2xkOm9sZA=="}}, "keep": 1})");
    store_credentials(files, "reg:5000", {"user", "secret", ""});
    const json doc = json::parse(read_text(files.login_file));
    CHECK(doc["keep"] == 1);
    CHECK(doc["auths"]["other:1"]["auth"] == "eDp5");
    CHECK_FALSE(doc["auths"].contains("https://reg:5000"));
    CHECK(doc["auths"]["reg:5000"]["auth"] == auth_of("user", "secret"));
    struct stat st {};
    REQUIRE(::stat(files.login_file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(find_credentials(files, "reg:5000")->password == "secret");

    files.login_file = files.read_order[1];  // docker's file: docker.io under docker's key
    store_credentials(files, "docker.io", {"hub", "pw", ""});
    CHECK(json::parse(read_text(files.login_file))["auths"].contains("https://index.docker.io/v1/"));

    CHECK(erase_credentials(files, "reg:5000"));
    CHECK_FALSE(find_credentials(files, "reg:5000").has_value());
    CHECK(json::parse(read_text(files.read_order[0]))["auths"].contains("other:1"));
    CHECK_FALSE(erase_credentials(files, "reg:5000"));
}

TEST_CASE("the files follow the environment", "[registry][credentials]") {
    ::setenv("HOME", "/home/u", 1);
    ::unsetenv("REGISTRY_AUTH_FILE");
    ::unsetenv("DOCKER_CONFIG");
    ::unsetenv("XDG_CONFIG_HOME");
    ::unsetenv("XDG_RUNTIME_DIR");
    auto files = credential_files_from_environment();
    CHECK(files.login_file == "/home/u/.docker/config.json");
    CHECK(files.read_order.front() == "/home/u/.config/containers/auth.json");
    ::setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
    files = credential_files_from_environment();
    CHECK(files.login_file == "/run/user/7/containers/auth.json");
    CHECK(files.read_order.back() == "/home/u/.docker/config.json");
    ::setenv("REGISTRY_AUTH_FILE", "/x/auth.json", 1);
    ::setenv("DOCKER_CONFIG", "/d", 1);
    files = credential_files_from_environment();
    CHECK(files.login_file == "/x/auth.json");
    CHECK(files.read_order.back() == "/d/config.json");
    ::unsetenv("REGISTRY_AUTH_FILE");
    ::unsetenv("DOCKER_CONFIG");
    ::unsetenv("XDG_RUNTIME_DIR");
}

TEST_CASE("credential helpers: credHelpers, credsStore, store and erase", "[registry][credentials]") {
    FakeHelper helper;
    ScratchDir dir;
    auto files = files_in(dir);
    files.login_file = files.read_order[1];
    write_text(files.login_file, R"({"credHelpers": {"reg:5000": "fake"}, "auths": {"reg:5000": {"auth": "eDp5"}}})");
    CHECK_FALSE(find_credentials(files, "reg:5000").has_value());  // the helper has none yet; auths is not asked
    store_credentials(files, "reg:5000", {"helped", "s3cret", ""});
    CHECK(read_text(files.login_file).find("s3cret") == std::string::npos);
    const auto found = find_credentials(files, "reg:5000");
    REQUIRE(found.has_value());
    CHECK(found->username == "helped");
    CHECK(found->password == "s3cret");

    // credsStore holds every registry's; docker.io under docker's server URL.
    write_text(files.login_file, R"({"credsStore": "fake"})");
    store_credentials(files, "docker.io", {"hubuser", "hubpw", ""});
    CHECK(find_credentials(files, "docker.io")->password == "hubpw");
    CHECK(erase_credentials(files, "docker.io"));
    CHECK_FALSE(find_credentials(files, "docker.io").has_value());
    CHECK(helper.log().find("erase") != std::string::npos);

    CHECK_THROWS_WITH(run_credential_helper("fake", "broken", ""),
                      Catch::Contains("docker-credential-fake broken") && Catch::Contains("exited with status 3") &&
                          Catch::Contains("the keychain is locked"));
    CHECK_THROWS_WITH(run_credential_helper("absent-helper", "get", "x"), Catch::Contains("docker-credential-absent-helper"));
}

} // namespace credentials_test
