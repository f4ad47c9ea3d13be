// strata pull, push and login against Debian's docker-registry on 127.0.0.1: plain http;
// TLS (a CA and certificate made here, trusted through STRATA_CERTS_DIRS) with htpasswd
// Basic auth; and Bearer tokens from registry_token_server.py (distribution's own `auth:
// token:` verifying RS256 JWTs against a certificate made here). Peers: skopeo reads what
// strata pushes and pushes what strata pulls. Images come from the busybox fixture.
#include "tests/common/busybox_store.hpp"
#include "tests/common/local_registry.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace registry_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct ThisFile;
BusyboxStore& busybox() { return file_store<ThisFile>(); }

std::string busybox_push(const Client& source_env, const std::string& destination, const std::string& flags = "") {
    const auto push = sh(source_env.env + " " + busybox().cmd("push " + flags + " busybox " + quote(destination)));
    INFO(push.output);
    REQUIRE(push.exit_code == 0);
    const auto at = push.output.find("@sha256:");
    REQUIRE(at != std::string::npos);
    return push.output.substr(at + 1, 71);
}

std::string stored_digest(const fs::path& root, const std::string& tag) {
    const auto inspect = sh_stdout("skopeo inspect " + quote("oci:" + (root / "oci").string() + ":" + tag));
    INFO(tag);
    REQUIRE(inspect.exit_code == 0);
    return json::parse(inspect.output)["Digest"].get<std::string>();
}

std::string busybox_digest() { return stored_digest(busybox().root, "busybox:latest"); }

void require_fsck_clean(const Client& client) {
    const auto fsck = client.strata("fsck");
    INFO(fsck.output);
    CHECK(fsck.exit_code == 0);
    CHECK(fsck.output.find("No problems found") != std::string::npos);
}

// A CA and a certificate for 127.0.0.1 it signed.
struct Certificates {
    ScratchDir dir{"strata-certs-"};
    fs::path ca = dir.path() / "ca.crt", cert = dir.path() / "server.crt", key = dir.path() / "server.key";
    Certificates() {
        const std::string d = quote(dir.path().string());
        const auto made = sh("cd " + d + " && (openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=strata-test-ca "
                             "-keyout ca.key -out ca.crt && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
                             "-keyout server.key -out server.csr && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
                             "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
                             "-extfile san.ext -out server.crt)");
        INFO(made.output);
        REQUIRE(made.exit_code == 0);
    }
};

// Bytes in the registry's upload sessions so far.
std::uintmax_t uploaded_bytes(const fs::path& uploads) {
    std::error_code ec;
    std::uintmax_t total = 0;
    for (fs::recursive_directory_iterator it(uploads, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code size_ec;  // a session may end while it is read
        const auto size = it->path().filename() == "data" ? fs::file_size(it->path(), size_ec) : 0;
        if (!size_ec) total += size;
    }
    return total;
}

std::string host_arch() {
    utsname u{};
    ::uname(&u);
    const std::string m = u.machine;
    return m == "x86_64" ? "amd64" : m == "aarch64" ? "arm64" : m;
}

} // namespace

TEST_CASE("push then pull through a plain registry gives the same image", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    Client client;
    const std::string ref = registry.host() + "/test/busybox:1";
    CHECK(busybox_push(client, ref) == busybox_digest());

    const auto pulled = client.strata("pull " + quote(ref));
    INFO(pulled.output);
    REQUIRE(pulled.exit_code == 0);
    CHECK(pulled.output.find("Pull complete") != std::string::npos);
    CHECK(stored_digest(client.root, ref) == busybox_digest());
    const auto run = client.strata("run --rm " + quote(ref) + " echo pulled-and-ran");
    CHECK(run.output.find("pulled-and-ran") != std::string::npos);
    require_fsck_clean(client);

    // A second pull finds every blob present; a second push finds them in the registry.
    const auto again = client.strata("pull " + quote(ref));
    CHECK(again.output.find("Already exists") != std::string::npos);
    const auto repush = sh(client.env + " " + busybox().cmd("push busybox " + quote(ref)));
    CHECK(repush.output.find("Layer already exists") != std::string::npos);
}

TEST_CASE("FROM pulls a base the store lacks, as --pull says, and names it in the manifest", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    Client client;
    const std::string ref = registry.host() + "/base/busybox:1";
    const std::string digest = busybox_push(client, ref);
    ScratchDir context{"strata-from-"};
    write_text(context.path() / "Buildfile", "FROM " + ref + " AS built\nRUN echo built > /built\n"
                                             "FROM scratch\nCOPY --from=" + ref + " /bin/busybox /busybox\n");
    const std::string build = "build --progress plain -f " + quote((context.path() / "Buildfile").string()) + " --target built -t app ";

    // --pull=never: an empty store has no base, and says so.
    const auto never = client.strata(build + "--pull=never " + quote(context.path().string()));
    CHECK(never.exit_code != 0);
    CHECK(never.output.find("FROM " + ref + ": image '" + ref + "' is not in the store (--pull=never)") != std::string::npos);

    // The default (missing): pulled, then the RUN runs on it.
    const auto built = client.strata(build + quote(context.path().string()));
    INFO(built.output);
    REQUIRE(built.exit_code == 0);
    CHECK(built.output.find("Pull complete") != std::string::npos);
    CHECK(stored_digest(client.root, ref) == digest);
    CHECK(client.strata("run --rm app cat /built").output == "built\n");
    const auto manifest = json::parse(sh_stdout("skopeo inspect --raw " + quote("oci:" + (client.root / "oci").string() + ":app:latest")).output);
    CHECK(manifest["annotations"]["org.opencontainers.image.base.name"] == ref);
    CHECK(manifest["annotations"]["org.opencontainers.image.base.digest"] == digest);

    // Stored now: no pull, even with the registry gone; --pull=always asks the registry again.
    const auto cached = client.strata(build + quote(context.path().string()));
    CHECK(cached.exit_code == 0);
    CHECK(cached.output.find("Pull complete") == std::string::npos);
    const auto always = client.strata(build + "--pull " + quote(context.path().string()));
    CHECK(always.exit_code == 0);
    CHECK(always.output.find("Already exists") != std::string::npos);

    // COPY --from an image pulls it too (the final stage, FROM scratch).
    Client other;
    const auto copied = other.strata("build --progress plain -t copied " + quote(context.path().string()));
    INFO(copied.output);
    REQUIRE(copied.exit_code == 0);
    CHECK(other.strata("run --rm copied /busybox echo copied").output.find("copied") != std::string::npos);
    require_fsck_clean(other);

    // build --push: every -t goes to its registry, and pulls back as built.
    const std::string pushed_ref = registry.host() + "/team/app:2";
    const std::string untagged = "build --progress plain --target built -f " + quote((context.path() / "Buildfile").string()) + " ";
    CHECK(client.strata(untagged + "--push " + quote(context.path().string())).output.find("--push needs a name") != std::string::npos);
    const auto pushed = client.strata_stdout(untagged + "--push -t " + quote(pushed_ref) + " " + quote(context.path().string()));
    REQUIRE(pushed.exit_code == 0);
    const std::string built_digest = pushed.output.substr(0, 71);
    Client puller;
    REQUIRE(puller.strata("pull " + quote(pushed_ref)).exit_code == 0);
    CHECK(stored_digest(puller.root, pushed_ref) == built_digest);
    CHECK(puller.strata("run --rm " + quote(pushed_ref) + " cat /built").output == "built\n");
}

TEST_CASE("skopeo reads what strata pushed and strata pulls what skopeo pushed", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    Client client;
    const std::string pushed = registry.host() + "/strata/busybox:1";
    busybox_push(client, pushed);
    const auto inspect = sh_stdout("skopeo inspect --tls-verify=false " + quote("docker://" + pushed));
    REQUIRE(inspect.exit_code == 0);
    CHECK(json::parse(inspect.output)["Digest"] == busybox_digest());
    ScratchDir copy;
    REQUIRE(sh("skopeo copy -q --src-tls-verify=false " + quote("docker://" + pushed) + " " + quote("oci:" + copy.path().string() + ":bb")).exit_code == 0);

    const std::string layout = "oci:" + (busybox().root / "oci").string() + ":busybox:latest";
    SECTION("as OCI: the same manifest") {
        const std::string ref = registry.host() + "/skopeo/oci:1";
        REQUIRE(sh("skopeo copy -q --dest-tls-verify=false " + quote(layout) + " " + quote("docker://" + ref)).exit_code == 0);
        const auto pulled = client.strata("pull -q " + quote(ref));
        INFO(pulled.output);
        REQUIRE(pulled.exit_code == 0);
        CHECK(stored_digest(client.root, ref) == busybox_digest());
    }
    SECTION("as docker v2 schema 2: stored as OCI, the same config and layers") {
        const std::string ref = registry.host() + "/skopeo/docker:1";
        REQUIRE(sh("skopeo copy -q --format v2s2 --dest-tls-verify=false " + quote(layout) + " " + quote("docker://" + ref)).exit_code == 0);
        const auto pulled = client.strata("pull " + quote(ref));
        INFO(pulled.output);
        REQUIRE(pulled.exit_code == 0);
        const auto ours = json::parse(sh_stdout("skopeo inspect --raw " + quote("oci:" + (client.root / "oci").string() + ":" + ref)).output);
        const auto theirs = json::parse(sh_stdout("skopeo inspect --raw " + quote(layout)).output);
        CHECK(ours["mediaType"] == "application/vnd.oci.image.manifest.v1+json");
        CHECK(ours["config"]["digest"] == theirs["config"]["digest"]);
        CHECK(ours["layers"][0]["digest"] == theirs["layers"][0]["digest"]);
        CHECK(client.strata("run --rm " + quote(ref) + " true").exit_code == 0);
        require_fsck_clean(client);
    }
}

TEST_CASE("a multi-platform index: the host's image, or the one --platform names", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    Client client;
    auto& bb = busybox();
    const auto other = bb.build("FROM busybox\nLABEL flavour=other\n", "-t other");
    INFO(other.output);
    REQUIRE(other.exit_code == 0);
    // An OCI layout holding an index of both images, copied to the registry with skopeo --all.
    ScratchDir work;
    const fs::path layout = work.path() / "layout";
    REQUIRE(sh("cp -r " + quote((bb.root / "oci").string()) + " " + quote(layout.string())).exit_code == 0);
    const auto descriptor = [&](const std::string& tag, const std::string& arch) {
        const auto raw = sh_stdout("skopeo inspect --raw " + quote("oci:" + (bb.root / "oci").string() + ":" + tag)).output;
        const std::string digest = stored_digest(bb.root, tag);
        return json{{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", digest}, {"size", raw.size()},
                    {"platform", {{"os", "linux"}, {"architecture", arch}}}};
    };
    const json index{{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"},
                     {"manifests", {descriptor("busybox:latest", host_arch()), descriptor("other:latest", "s390x")}}};
    const std::string index_text = index.dump();
    const std::string index_hex = sh_stdout("printf '%s' " + quote(index_text) + " | sha256sum | cut -c1-64").output.substr(0, 64);
    write_text(layout / "blobs/sha256" / index_hex, index_text);
    write_text(layout / "index.json", json{{"schemaVersion", 2}, {"manifests", {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                                                                               {"digest", "sha256:" + index_hex}, {"size", index_text.size()},
                                                                               {"annotations", {{"org.opencontainers.image.ref.name", "multi"}}}}}}}
                                          .dump());
    const std::string ref = registry.host() + "/multi/busybox:1";
    const auto copied = sh("skopeo copy -q --all --dest-tls-verify=false " + quote("oci:" + layout.string() + ":multi") + " " + quote("docker://" + ref));
    INFO(copied.output);
    REQUIRE(copied.exit_code == 0);

    const auto host = client.strata("pull " + quote(ref));
    INFO(host.output);
    REQUIRE(host.exit_code == 0);
    CHECK(host.output.find("Digest: sha256:" + index_hex) != std::string::npos);
    CHECK(stored_digest(client.root, ref) == busybox_digest());
    const auto chosen = client.strata("pull --platform linux/s390x " + quote(ref));
    REQUIRE(chosen.exit_code == 0);
    CHECK(stored_digest(client.root, ref) == stored_digest(bb.root, "other:latest"));
    const auto none = client.strata("pull --platform linux/riscv64 " + quote(ref));
    CHECK(none.exit_code != 0);
    CHECK(none.output.find("no image for linux/riscv64") != std::string::npos);
}

TEST_CASE("TLS with a CA from certs.d and htpasswd Basic auth: login, push, pull, logout", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    Certificates certs;
    ScratchDir auth;
    REQUIRE(sh("htpasswd -Bbn alice wonderland > " + quote((auth.path() / "htpasswd").string())).exit_code == 0);
    LocalRegistry registry(LocalRegistry::Tls{certs.cert, certs.key},
                           "auth:\n  htpasswd:\n    realm: strata-test\n    path: " + (auth.path() / "htpasswd").string() + "\n");
    Client client;
    const std::string ref = registry.host() + "/secure/busybox:1";

    // Untrusted: a certificate error, never a fall back to plain http.
    const auto untrusted = client.strata("login -u alice -p wonderland " + registry.host());
    CHECK(untrusted.exit_code != 0);
    CHECK(untrusted.output.find("certificate") != std::string::npos);

    client.trust(registry.host(), certs.ca);
    const auto anonymous = client.strata("pull " + quote(ref));
    CHECK(anonymous.exit_code != 0);
    CHECK(anonymous.output.find("401") != std::string::npos);
    CHECK(anonymous.output.find("strata login") != std::string::npos);

    const auto wrong = client.strata("login -u alice -p hatter " + registry.host());
    CHECK(wrong.exit_code != 0);
    CHECK(wrong.output.find("wrong username or password") != std::string::npos);
    CHECK_FALSE(fs::exists(client.auth_file()));

    const auto login = sh("printf 'wonderland\\n' | " + client.env + " " + quote(STRATA_BINARY) + " login -u alice --password-stdin " + registry.host());
    INFO(login.output);
    REQUIRE(login.exit_code == 0);
    CHECK(login.output.find("Login Succeeded") != std::string::npos);
    const auto saved = json::parse(read_text(client.auth_file()));
    CHECK(saved["auths"][registry.host()]["auth"] == "YWxpY2U6d29uZGVybGFuZA==");
    CHECK((fs::status(client.auth_file()).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));

    CHECK(busybox_push(client, ref) == busybox_digest());
    const auto pulled = client.strata("pull " + quote(ref));
    INFO(pulled.output);
    REQUIRE(pulled.exit_code == 0);
    CHECK(stored_digest(client.root, ref) == busybox_digest());
    const auto skopeo = sh_stdout("skopeo inspect --cert-dir " + quote((client.dir.path() / "certs.d" / registry.host()).string()) +
                                  " --creds alice:wonderland " + quote("docker://" + ref));
    REQUIRE(skopeo.exit_code == 0);
    CHECK(json::parse(skopeo.output)["Digest"] == busybox_digest());

    // --tls-verify=false needs no CA.
    Client unverified;
    REQUIRE(sh("mkdir -p " + quote((unverified.dir.path() / "run" / "containers").string()) + " && cp " + quote(client.auth_file().string()) + " " +
               quote(unverified.auth_file().string())).exit_code == 0);
    CHECK(unverified.strata("pull --tls-verify=false " + quote(ref)).exit_code == 0);
    // build takes the same flag for the bases it pulls.
    Client builder;
    REQUIRE(sh("mkdir -p " + quote((builder.dir.path() / "run" / "containers").string()) + " && cp " + quote(client.auth_file().string()) + " " +
               quote(builder.auth_file().string())).exit_code == 0);
    const ScratchDir context;
    write_text(context.path() / "Buildfile", "FROM " + ref + "\nLABEL pulled=yes\n");
    const auto refused = builder.strata("build -q " + quote(context.path().string()));
    CHECK(refused.exit_code != 0);
    CHECK(refused.output.find("certificate") != std::string::npos);
    const auto built = builder.strata("build -q --tls-verify=false " + quote(context.path().string()));
    INFO(built.output);
    CHECK(built.exit_code == 0);

    const auto logout = client.strata("logout " + registry.host());
    CHECK(logout.output.find("Removing login credentials") != std::string::npos);
    CHECK_FALSE(json::parse(read_text(client.auth_file()))["auths"].contains(registry.host()));
    CHECK(client.strata("pull " + quote(ref)).exit_code != 0);
}

TEST_CASE("Bearer tokens from a token service; an expired token is replaced", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    ScratchDir keys;
    const std::string k = quote(keys.path().string());
    REQUIRE(sh("cd " + k + " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=strata-token "
               "-keyout token.key -out token.crt 2>&1").exit_code == 0);
    const int token_port = free_port();
    const fs::path token_log = keys.path() / "issued.log";
    Background tokens("exec /usr/bin/python3 " + quote(STRATA_SOURCE_DIR "/tests/integration/registry_token_server.py") + " " +
                          std::to_string(token_port) + " " + quote((keys.path() / "token.key").string()) + " " +
                          quote((keys.path() / "token.crt").string()) + " strata-issuer strata-registry bob builder " +
                          quote(token_log.string()) + " --expire-first",
                      keys.path() / "token-server.log");
    wait_for_http("http://127.0.0.1:" + std::to_string(token_port) + "/token");
    LocalRegistry registry(std::nullopt, "auth:\n  token:\n    realm: http://127.0.0.1:" + std::to_string(token_port) +
                                             "/token\n    service: strata-registry\n    issuer: strata-issuer\n    rootcertbundle: " +
                                             (keys.path() / "token.crt").string() + "\n");
    Client client;
    const std::string ref = registry.host() + "/tokens/busybox:1";

    const auto wrong = client.strata("login -u bob -p plumber " + registry.host());
    CHECK(wrong.exit_code != 0);
    CHECK(wrong.output.find("wrong username or password") != std::string::npos);
    const auto login = client.strata("login -u bob -p builder " + registry.host());
    INFO(login.output);
    REQUIRE(login.exit_code == 0);

    CHECK(busybox_push(client, ref) == busybox_digest());
    const auto pulled = client.strata("pull " + quote(ref));
    INFO(pulled.output);
    INFO(registry.log());
    REQUIRE(pulled.exit_code == 0);
    CHECK(stored_digest(client.root, ref) == busybox_digest());
    // Each scope's first token was expired: the registry refused it and strata asked again.
    const std::string issued = read_text(token_log);
    INFO(issued);
    CHECK(issued.find("repository:tokens/busybox:pull expired") != std::string::npos);
    CHECK(issued.find("repository:tokens/busybox:pull valid") != std::string::npos);
    CHECK(issued.find("repository:tokens/busybox:pull,push valid") != std::string::npos);
}

TEST_CASE("chunked uploads, cross-repository mounts and the docker.io mirror", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    Client client;
    const std::string first = registry.host() + "/team/app:1";
    CHECK(busybox_push(client, first, "--chunk-size 64k") == busybox_digest());
    REQUIRE(client.strata("pull " + quote(first)).exit_code == 0);

    // Pulled from team/app: pushing to team/copy mounts every blob instead of uploading it.
    const auto mounted = client.strata("push " + quote(first) + " " + quote(registry.host() + "/team/copy:1"));
    INFO(mounted.output);
    REQUIRE(mounted.exit_code == 0);
    CHECK(count_occurrences(mounted.output, "Mounted from team/app") == 4);
    const auto inspect = sh_stdout("skopeo inspect --tls-verify=false " + quote("docker://" + registry.host() + "/team/copy:1"));
    CHECK(json::parse(inspect.output)["Digest"] == busybox_digest());

    // docker.io names through a mirror (no internet needed: the mirror has the image).
    busybox_push(client, registry.host() + "/library/mirrored:7");
    Client mirrored;
    mirrored.env += " STRATA_REGISTRY_MIRROR=" + registry.host();
    const auto pulled = mirrored.strata("pull mirrored:7");
    INFO(pulled.output);
    REQUIRE(pulled.exit_code == 0);
    CHECK(pulled.output.find("docker.io/library/mirrored:7") != std::string::npos);
    CHECK(stored_digest(mirrored.root, "mirrored:7") == busybox_digest());
}

TEST_CASE("a blob whose bytes do not match its digest is refused and nothing is tagged", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    LocalRegistry registry;
    Client client;
    const std::string ref = registry.host() + "/tampered/busybox:1";
    busybox_push(client, ref);
    const auto manifest = json::parse(sh_stdout("skopeo inspect --raw " + quote("oci:" + (busybox().root / "oci").string() + ":busybox:latest")).output);
    const std::string layer = manifest["layers"][0]["digest"];
    const fs::path file = registry.blob_file(layer);
    REQUIRE(fs::exists(file));
    // Same size, one byte changed.
    REQUIRE(sh("printf 'X' | dd of=" + quote(file.string()) + " bs=1 seek=100 conv=notrunc status=none").exit_code == 0);

    const auto pulled = client.strata("pull " + quote(ref));
    INFO(pulled.output);
    CHECK(pulled.exit_code != 0);
    CHECK(pulled.output.find("digest mismatch") != std::string::npos);
    CHECK(client.strata_stdout("images -q").output.empty());
    CHECK_FALSE(fs::exists(client.root / "oci/blobs/sha256" / layer.substr(7)));
    require_fsck_clean(client);
}

TEST_CASE("a registry killed mid-push and restarted: the retry completes, nothing is corrupt", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    auto& bb = busybox();
    // 48 MB of random bytes, uncompressed: long enough on the wire to be cut.
    const auto big = bb.build("FROM busybox\nRUN head -c 48000000 /dev/urandom > /big\n", "-t big --compression uncompressed");
    INFO(big.output);
    REQUIRE(big.exit_code == 0);
    LocalRegistry registry;
    Client client;
    const std::string ref = registry.host() + "/crash/big:1";
    ScratchDir work;
    const fs::path log = work.path() / "push.log";
    Background push(client.env + " exec " + bb.cmd("push --chunk-size 4m big " + quote(ref)), log);
    // The registry dies once the big layer's upload holds a few MB.
    const fs::path uploads = registry.data() / "docker/registry/v2/repositories/crash/big/_uploads";
    bool started = false;
    for (int i = 0; i < 4000 && !started; ++i) {
        started = uploaded_bytes(uploads) > 6000000;
        if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    INFO(read_text(log));
    REQUIRE(started);
    registry.kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    registry.start();
    // The push retries on its own and finishes.
    std::string output;
    for (int i = 0; i < 600; ++i) {
        output = read_text(log);
        if (output.find("big:1@sha256:") != std::string::npos || output.find("strata: error") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    INFO(output);
    CHECK(output.find("Retrying") != std::string::npos);
    REQUIRE(output.find("big:1@sha256:") != std::string::npos);

    // Memory does not grow with the layer: the 48 MB layer streams through small buffers.
    const fs::path rss = work.path() / "rss";
    const auto pulled = client.strata("pull " + quote(ref));
    INFO(pulled.output);
    REQUIRE(pulled.exit_code == 0);
    Client measured;
    const auto timed = sh(measured.env + " /usr/bin/time -f '%M' -o " + quote(rss.string()) + " " + quote(STRATA_BINARY) + " --root " +
                          quote(measured.root.string()) + " pull -q " + quote(ref));
    REQUIRE(timed.exit_code == 0);
#if defined(__SANITIZE_ADDRESS__)
    // ASan's shadow memory and quarantine make RSS meaningless (157 MB here): the bound
    // holds for the Release build, which CI runs too.
    WARN("built with AddressSanitizer: peak RSS " << read_text(rss) << " KiB is not checked");
#else
    CHECK(std::stol(read_text(rss)) < 40000);  // KiB
#endif
    CHECK(stored_digest(client.root, ref) == stored_digest(bb.root, "big:latest"));
    require_fsck_clean(client);
}

TEST_CASE("pulls survive 503, 429 and cut connections: a blob resumes with Range", "[integration][registry]") {
    REQUIRE_REGISTRY_TOOLS();
    auto& bb = busybox();
    ScratchDir work;
    const fs::path log = work.path() / "requests.log";
    const bool ranges = GENERATE(true, false);
    const int port = free_port();
    Background server("exec /usr/bin/python3 " + quote(STRATA_SOURCE_DIR "/tests/integration/registry_flaky_server.py") + " " +
                          std::to_string(port) + " " + quote((bb.root / "oci").string()) + " " + quote(log.string()) +
                          (ranges ? "" : " --no-range"),
                      work.path() / "server.log");
    wait_for_http("http://127.0.0.1:" + std::to_string(port) + "/v2/");
    Client client;
    const std::string ref = "127.0.0.1:" + std::to_string(port) + "/flaky/busybox:latest";
    const auto pulled = client.strata("pull " + quote(ref));
    const std::string requests = read_text(log);
    INFO(pulled.output);
    INFO(requests);
    REQUIRE(pulled.exit_code == 0);
    CHECK(stored_digest(client.root, ref) == busybox_digest());
    CHECK(requests.find(" 503\n") != std::string::npos);
    CHECK(requests.find(" 429\n") != std::string::npos);
    CHECK(requests.find(" 200-cut\n") != std::string::npos);
    if (ranges) CHECK(requests.find(" 206\n") != std::string::npos);
    else CHECK(requests.find(" 206\n") == std::string::npos);
    CHECK(pulled.output.find("Retrying") != std::string::npos);
    require_fsck_clean(client);
}

} // namespace registry_test
