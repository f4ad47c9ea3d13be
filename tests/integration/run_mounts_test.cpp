// RUN --mount, --network and heredoc scripts through the real binary, on a busybox base
// built FROM scratch out of the host's static busybox: what the command sees, and what
// stays out of the image and the store.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace run_mounts_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {


using MountStore = BusyboxStore;

struct ThisFile;
MountStore& mount_store() { return file_store<ThisFile, MountStore>(); }

bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

} // namespace

TEST_CASE("a cache mount keeps its files across builds and out of the image", "[integration][mounts]") {
    auto& s = mount_store();
    const auto first = s.build("FROM busybox\n"
                               "RUN --mount=type=cache,target=/var/cache/dl echo fetched > /var/cache/dl/pkg\n",
                               "-t cache-one");
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    // Another step (not cached: its text differs), in another build, sees the file.
    const auto second = s.build("FROM busybox\n"
                                "RUN --mount=type=cache,target=/var/cache/dl cat /var/cache/dl/pkg > /copied\n",
                                "-t cache-two");
    INFO(second.output);
    REQUIRE(second.exit_code == 0);
    CHECK(s.strata("run cache-two cat /copied").output == "fetched\n");
    const auto listing = s.layer_listing("cache-two");
    CHECK(listing.find("copied") != std::string::npos);
    CHECK(listing.find("var/") == std::string::npos);  // neither the cache's files nor its mount point
    CHECK(s.strata("run cache-one ls /var").exit_code != 0);
}

TEST_CASE("a tmpfs mount on a new path leaves no trace in the layer", "[integration][mounts]") {
    auto& s = mount_store();
    const auto r = s.build("FROM busybox\nRUN --mount=type=tmpfs,target=/new/dir,size=1m "
                           "touch /new/dir/x && ls /new/dir && touch /made\n",
                           "-t tmpfs-image");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto listing = s.layer_listing("tmpfs-image");
    CHECK(has_line(listing, "made"));
    CHECK(listing.find("new/") == std::string::npos);
}

TEST_CASE("binds from the context and from a stage; rw writes are thrown away", "[integration][mounts]") {
    auto& s = mount_store();
    const auto r = s.build("FROM busybox AS tools\n"
                           "RUN mkdir /opt && echo 'echo tool ran' > /opt/tool.sh\n"
                           "FROM busybox\n"
                           "WORKDIR /src\n"
                           "RUN --mount=type=bind,target=. cat input.txt > /out.txt && (touch new 2>/dev/null || echo read-only)\n"
                           "RUN --mount=type=bind,from=tools,source=/opt,target=/tools sh /tools/tool.sh > /tool.out\n"
                           "RUN --mount=type=bind,target=/ctx,rw echo scribble > /ctx/input.txt && cat /ctx/input.txt\n",
                           "-t bind-image", {{"input.txt", "from the context\n"}});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("read-only") != std::string::npos);
    CHECK(r.output.find("scribble") != std::string::npos);
    CHECK(s.strata("run bind-image cat /out.txt /tool.out").output == "from the context\ntool ran\n");
    const auto listing = s.layer_listing("bind-image");
    CHECK(listing.find("ctx/") == std::string::npos);
    CHECK(listing.find("tools/") == std::string::npos);
    CHECK(listing.find("input.txt") == std::string::npos);
}

TEST_CASE("secrets reach the command and nothing else: no layer, record, blob or history", "[integration][mounts]") {
    auto& s = mount_store();
    ScratchDir secrets;
    const std::string file_secret = "file-secret-8a1f27c9";
    const std::string env_secret = "env-secret-51d0b3e6";
    write_text(secrets.path() / "token", file_secret);
    const auto r = s.build("FROM busybox\n"
                           "RUN --mount=type=secret,id=tok --mount=type=secret,id=api,env=API_TOKEN "
                           "echo \"file=$(cat /run/secrets/tok) env=$API_TOKEN\" && stat -c mode=%a /run/secrets/tok "
                           "&& touch /proof\n",
                           "-t secret-image --secret id=tok,src=" + quote((secrets.path() / "token").string()) +
                               " --secret id=api,env=STRATA_TEST_TOKEN",
                           {}, "STRATA_TEST_TOKEN=" + env_secret);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("file=" + file_secret + " env=" + env_secret) != std::string::npos);  // the step's output only
    CHECK(r.output.find("mode=400") != std::string::npos);
    const auto listing = s.layer_listing("secret-image");
    CHECK(has_line(listing, "proof"));
    CHECK(listing.find("run/") == std::string::npos);
    // Anywhere in the store: blobs (layers, config, history), cache records, snapshots.
    for (const auto& secret : {file_secret, env_secret}) {
        const auto grep = sh("grep -r -l -F " + quote(secret) + " " + quote(s.root.string()));
        INFO(grep.output);
        CHECK(grep.exit_code == 1);  // no match
    }
}

TEST_CASE("a required secret that was not given fails the step, naming the mount and the line", "[integration][mounts]") {
    auto& s = mount_store();
    const auto r = s.build("FROM busybox\nRUN echo ok\nRUN --mount=type=secret,id=foo,required=true cat /run/secrets/foo\n");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("Buildfile:3") != std::string::npos);
    CHECK(r.output.find("RUN --mount=type=secret,id=foo: secret 'foo' was not given (--secret id=foo,") != std::string::npos);
}

TEST_CASE("an ssh mount shows the agent's socket at SSH_AUTH_SOCK", "[integration][mounts]") {
    auto& s = mount_store();
    ScratchDir agent_dir;
    const fs::path socket_path = agent_dir.path() / "agent.sock";
    const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
    REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(sock, 1) == 0);
    const auto r = s.build("FROM busybox\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"agent at $SSH_AUTH_SOCK\"\n",
                           "--ssh default", {}, "SSH_AUTH_SOCK=" + quote(socket_path.string()));
    ::close(sock);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("agent at /run/buildkit/ssh_agent.0") != std::string::npos);
}

TEST_CASE("RUN --network=none sees only loopback", "[integration][mounts]") {
    auto& s = mount_store();
    const auto r = s.build("FROM busybox\n"
                           "RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /interfaces\n"
                           "RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /host-interfaces\n",
                           "-t network-image");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(s.strata("run network-image cat /interfaces").output == "lo\n");
    // The default is the host's network, as before --network existed.
    const auto host = sh_stdout("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    CHECK(s.strata("run network-image cat /host-interfaces").output == host.output);
}

TEST_CASE("RUN heredocs: a #! script runs from a read-only mount, others feed the shell", "[integration][mounts]") {
    auto& s = mount_store();
    const auto r = s.build("FROM busybox\n"
                           "RUN <<EOF\n"
                           "#!/bin/sh\n"
                           "echo \"script at $0\"\n"
                           "touch /dev/pipes/EOF 2>/dev/null || echo script-read-only\n"
                           "touch /script-ran\n"
                           "EOF\n"
                           "RUN sh <<EOF\n"
                           "echo \"from stdin $((6 * 7))\" > /stdin-ran\n"
                           "EOF\n",
                           "-t heredoc-image");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("script at /dev/pipes/EOF") != std::string::npos);
    CHECK(r.output.find("script-read-only") != std::string::npos);
    CHECK(s.strata("run heredoc-image cat /stdin-ran").output == "from stdin 42\n");
    const auto listing = s.layer_listing("heredoc-image");
    CHECK(has_line(listing, "script-ran"));
    CHECK(listing.find("pipes") == std::string::npos);
}

} // namespace run_mounts_test
