// COPY and ADD beyond the basics, through builder::build with a fake executor: --from an
// image, --exclude, --parents, --link, heredocs, local tar archives (hostile ones too) and
// http downloads from a python http.server on 127.0.0.1.
#include "builder/builder.hpp"
#include "builder/fetch.hpp"
#include "builder/file_step.hpp"
#include "tests/common/build_fixture.hpp"
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace copy_add_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using strata::test::count_occurrences;
using strata::test::quote;
using strata::test::read_text;
using strata::test::ScratchDir;
using strata::test::sh;
using strata::test::write_text;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Writes the RUN command and its environment into the upper dir, so that a changed command
// or build arg changes the layer (and what sits under a later step).
class FakeExecutor final : public builder::Executor {
public:
    std::vector<sandbox::Spec> runs;
    sandbox::Result run(const sandbox::Spec& spec) override {
        runs.push_back(spec);
        std::string text = spec.argv.back() + "\n";
        for (const auto& e : spec.env) text += e + "\n";
        write_text(spec.upper_dir / "ran", text);
        return {};
    }
};

struct Fixture : test::BuildFixture<FakeExecutor> {
    builder::BuildResult build(const std::string& buildfile, std::map<std::string, std::string> args = {},
                               const std::string& tag = "t") {
        options.tags = {tag};
        options.build_args = std::move(args);
        return build_with_options(buildfile);
    }
};

struct stat lstat_of(const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) throw std::runtime_error("lstat " + p.string() + " failed");
    return st;
}

unsigned mode_of(const fs::path& p) { return lstat_of(p).st_mode & 07777; }

void run_or_fail(const std::string& command) {
    const auto r = sh(command);
    if (r.exit_code != 0) throw std::runtime_error(command + " failed: " + r.output);
}

// python3 -m http.server on 127.0.0.1 and a port the kernel picks; its request log goes to
// a file, so a test can count what was fetched. Stopped (SIGTERM, reaped) on destruction.
class HttpServer {
public:
    HttpServer(const fs::path& root, const fs::path& log) : log_(log) {
        int out[2];
        if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::dup2(out[1], 1);
            const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (log_fd >= 0) ::dup2(log_fd, 2);
            ::execlp("python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory",
                     root.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(out[1]);
        read_fd_ = out[0];
        port_ = read_port();
    }
    ~HttpServer() {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
        ::close(read_fd_);
    }
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + "/" + path; }
    std::size_t gets(const std::string& path) const { return count_occurrences(read_text(log_), "\"GET /" + path + " "); }

private:
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    int read_port() {
        std::string seen;
        for (int waited = 0; waited < 100; ++waited) {
            struct pollfd p {read_fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            char buf[256];
            const ssize_t n = ::read(read_fd_, buf, sizeof buf);
            if (n <= 0) break;
            seen.append(buf, static_cast<std::size_t>(n));
            const auto at = seen.find(" port ");
            if (at != std::string::npos && seen.find(' ', at + 6) != std::string::npos) return std::stoi(seen.substr(at + 6));
        }
        throw std::runtime_error("http.server did not start: " + seen);
    }

    fs::path log_;
    pid_t pid_ = -1;
    int read_fd_ = -1;
    int port_ = 0;
};

} // namespace

TEST_CASE("COPY --from an image in the store reads its layers; the record follows the image", "[copy]") {
    Fixture f;
    write_text(f.context / "data" / "a.txt", "from the base image\n");
    f.build("FROM scratch\nCOPY data /data/\n", {}, "base:1");
    write_text(f.context / "data" / "a.txt", "from the context\n");

    const std::string buildfile = "FROM scratch\nCOPY --from=base:1 /data/a.txt /copied/\n";
    const auto first = f.build(buildfile);
    CHECK(read_text(f.top_layer(first) / "copied" / "a.txt") == "from the base image\n");
    f.build(buildfile);
    CHECK(f.cached() == 1);

    SECTION("a new image under the same tag makes the COPY run again") {
        write_text(f.context / "data" / "a.txt", "base, second version\n");
        f.build("FROM scratch\nCOPY data /data/\n", {}, "base:1");
        const auto again = f.build(buildfile);
        CHECK(f.cached() == 0);
        CHECK(read_text(f.top_layer(again) / "copied" / "a.txt") == "base, second version\n");
    }
    SECTION("a stage index works like its name") {
        const auto r = f.build("FROM scratch\nCOPY data /d/\nFROM scratch\nCOPY --from=0 /d/a.txt /x\n");
        CHECK(read_text(f.top_layer(r) / "x") == "from the context\n");
    }
    SECTION("an image that is not in the store is named in the error") {
        CHECK_THROWS_WITH(f.build("FROM scratch\nCOPY --from=nosuch:2 /a /b\n"),
                          Catch::Contains("Buildfile:2") && Catch::Contains("nosuch:2") &&
                              Catch::Contains("is not in the store"));
    }
}

TEST_CASE("COPY --exclude leaves files out of the layer and out of the cache key", "[copy]") {
    Fixture f;
    write_text(f.context / "app" / "main.c", "int main(){}\n");
    write_text(f.context / "app" / "README.md", "docs\n");
    write_text(f.context / "app" / "tmp" / "scratch.o", "junk\n");
    write_text(f.context / "app" / "tmp" / "keep.txt", "kept\n");
    const std::string buildfile = "FROM scratch\nCOPY --exclude=*.md --exclude=tmp --exclude=!tmp/keep.txt app /src/\n";
    const auto first = f.build(buildfile);
    const fs::path src = f.top_layer(first) / "src";
    CHECK(fs::exists(src / "main.c"));
    CHECK_FALSE(fs::exists(src / "README.md"));
    CHECK_FALSE(fs::exists(src / "tmp" / "scratch.o"));
    CHECK(read_text(src / "tmp" / "keep.txt") == "kept\n");  // a `!` exception brings one back

    write_text(f.context / "app" / "README.md", "changed docs\n");
    write_text(f.context / "app" / "tmp" / "scratch.o", "other junk\n");
    const auto again = f.build(buildfile);
    CHECK(f.cached() == 1);
    CHECK(again.manifest.digest == first.manifest.digest);

    SECTION("the matches of a wildcard are filtered too, relative to where the wildcard starts") {
        write_text(f.context / "home.txt", "t\n");
        write_text(f.context / "home.sh", "s\n");
        write_text(f.context / "homework" / "notes.txt", "n\n");
        write_text(f.context / "homework" / "run.sh", "r\n");
        const auto r = f.build("FROM scratch\nCOPY --exclude=*.txt hom* /mydir/\n");
        const fs::path d = f.top_layer(r) / "mydir";
        CHECK(fs::exists(d / "home.sh"));
        CHECK_FALSE(fs::exists(d / "home.txt"));
        CHECK(fs::exists(d / "run.sh"));  // homework's contents, less *.txt
        CHECK_FALSE(fs::exists(d / "notes.txt"));
    }
}

TEST_CASE("COPY --parents keeps the source's directories, below a ./ pivot when there is one", "[copy]") {
    Fixture f;
    write_text(f.context / "x" / "a.txt", "xa\n");
    write_text(f.context / "y" / "a.txt", "ya\n");
    write_text(f.context / "x" / "y" / "b.txt", "xyb\n");
    write_text(f.context / "x" / "y" / "c.md", "xyc\n");
    write_text(f.context / "src" / "a.txt", "1\n");
    write_text(f.context / "src" / "p" / "q" / "c.txt", "3\n");
    write_text(f.context / "src" / "p" / "skip.txt", "no\n");
    REQUIRE(::chmod((f.context / "x").c_str(), 0700) == 0);

    const auto r = f.build("FROM scratch\n"
                           "COPY ./x/a.txt ./y/a.txt /no_parents/\n"
                           "COPY --parents ./x/a.txt ./y/a.txt /parents/\n"
                           "COPY --parents ./x/./y/*.txt /pivot/\n"
                           "COPY --parents --exclude=src/p/skip.txt src/**/*.txt /deep/\n");
    const auto layers = f.store.ensure_snapshots(f.image(r));
    REQUIRE(layers.size() == 4);
    CHECK(fs::exists(layers[0] / "no_parents" / "a.txt"));
    CHECK_FALSE(fs::exists(layers[0] / "no_parents" / "x"));
    CHECK(read_text(layers[1] / "parents" / "x" / "a.txt") == "xa\n");
    CHECK(read_text(layers[1] / "parents" / "y" / "a.txt") == "ya\n");
    CHECK(mode_of(layers[1] / "parents" / "x") == 0700);  // a kept parent takes its source directory's mode
    CHECK(read_text(layers[2] / "pivot" / "y" / "b.txt") == "xyb\n");
    CHECK_FALSE(fs::exists(layers[2] / "pivot" / "y" / "c.md"));
    CHECK_FALSE(fs::exists(layers[2] / "pivot" / "x"));
    CHECK(read_text(layers[3] / "deep" / "src" / "a.txt") == "1\n");
    CHECK(read_text(layers[3] / "deep" / "src" / "p" / "q" / "c.txt") == "3\n");
    CHECK_FALSE(fs::exists(layers[3] / "deep" / "src" / "p" / "skip.txt"));
}

TEST_CASE("COPY --link writes into an empty filesystem and survives changes below it", "[copy]") {
    Fixture f;
    write_text(f.context / "app.txt", "app\n");
    const std::string buildfile = "FROM scratch\nARG V\nRUN echo $V\nCOPY --link app.txt /opt/app/\nCOPY app.txt /plain/\n";
    const auto first = f.build(buildfile, {{"V", "1"}});
    const auto first_layers = f.image(first).layers();
    REQUIRE(first_layers.size() == 3);
    CHECK(read_text(f.store.ensure_snapshots(f.image(first))[1] / "opt" / "app" / "app.txt") == "app\n");
    CHECK(mode_of(f.store.ensure_snapshots(f.image(first))[1] / "opt") == 0755);

    // The RUN changes, so the plain COPY on top of it runs again, but the linked one does not.
    const auto second = f.build(buildfile, {{"V", "2"}});
    CHECK(f.cached() == 1);
    const auto second_image = f.image(second);
    REQUIRE(second_image.layers().size() == 3);
    CHECK(second_image.layers()[0].digest != first_layers[0].digest);
    CHECK(second_image.layers()[1].digest == first_layers[1].digest);  // the same layer, stacked on a new parent
    const auto snapshots = f.store.ensure_snapshots(second_image);
    CHECK(read_text(snapshots[0] / "ran").find("V=2") != std::string::npos);
    CHECK(read_text(snapshots[1] / "opt" / "app" / "app.txt") == "app\n");

    SECTION("the destination is not resolved through the image's symlinks") {
        fs::create_directories(f.context / "tree");
        REQUIRE(::symlink("real", (f.context / "tree" / "lnk").c_str()) == 0);
        write_text(f.context / "tree" / "real" / "keep", "k\n");
        const auto r = f.build("FROM scratch\nCOPY tree /\nCOPY app.txt /lnk/\nCOPY --link app.txt /lnk/\n");
        const auto layers = f.store.ensure_snapshots(f.image(r));
        REQUIRE(layers.size() == 3);
        CHECK(S_ISLNK(lstat_of(layers[0] / "lnk").st_mode));
        CHECK(fs::exists(layers[1] / "real" / "app.txt"));  // without --link, the image's link is followed
        CHECK_FALSE(fs::exists(layers[1] / "lnk"));
        CHECK(S_ISDIR(lstat_of(layers[2] / "lnk").st_mode));  // with it, a real directory, as docker documents
        CHECK(fs::exists(layers[2] / "lnk" / "app.txt"));
    }
    SECTION("--chown with a name cannot be resolved in the empty filesystem") {
        CHECK_THROWS_WITH(f.build("FROM scratch\nCOPY --link --chown=app app.txt /\n"), Catch::Contains("numeric ids"));
        const auto r = f.build("FROM scratch\nCOPY --link --chown=7:8 app.txt /n/\n");
        CHECK(lstat_of(f.top_layer(r) / "n" / "app.txt").st_uid == 7);
        CHECK(lstat_of(f.top_layer(r) / "n").st_gid == 8);
    }
}

TEST_CASE("COPY and ADD heredocs become files with expanded bodies", "[copy]") {
    Fixture f;
    const std::string buildfile = "FROM scratch\n"
                                  "ARG NAME=world\n"
                                  "ENV GREETING=hello\n"
                                  "COPY <<'EOF' /raw.sh\n"
                                  "echo $NAME\n"
                                  "EOF\n"
                                  "COPY --chmod=0755 --chown=5:6 <<ONE <<TWO /multi/\n"
                                  "first\n"
                                  "ONE\n"
                                  "second\n"
                                  "TWO\n"
                                  "ADD <<-EOT /tabs\n"
                                  "\tindented\n"
                                  "EOT\n"
                                  "COPY <<EOF /etc/greeting\n"
                                  "$GREETING ${NAME} \"quoted\" 'single' \\$NAME\n"
                                  "EOF\n";
    const auto r = f.build(buildfile);
    const auto layers = f.store.ensure_snapshots(f.image(r));
    REQUIRE(layers.size() == 4);
    CHECK(read_text(layers[0] / "raw.sh") == "echo $NAME\n");
    CHECK(read_text(layers[1] / "multi" / "ONE") == "first\n");
    CHECK(read_text(layers[1] / "multi" / "TWO") == "second\n");
    CHECK(mode_of(layers[1] / "multi" / "TWO") == 0755);
    CHECK(lstat_of(layers[1] / "multi" / "ONE").st_uid == 5);
    CHECK(lstat_of(layers[1] / "multi" / "ONE").st_gid == 6);
    CHECK(read_text(layers[2] / "tabs") == "indented\n");
    CHECK(read_text(layers[3] / "etc" / "greeting") == "hello world \"quoted\" 'single' $NAME\n");
    CHECK(mode_of(layers[3] / "etc" / "greeting") == 0644);

    f.build(buildfile);
    CHECK(f.cached() == 4);
    const auto changed = f.build(buildfile, {{"NAME", "there"}});
    CHECK(f.cached() == 3);  // only the expanded body changed
    CHECK(read_text(f.top_layer(changed) / "etc" / "greeting") == "hello there \"quoted\" 'single' $NAME\n");
}

TEST_CASE("expand_heredoc keeps quotes and expands variables as BuildKit does", "[copy]") {
    const parser::Environment env = {{"A", "1"}, {"B", "two words"}};
    CHECK(builder::expand_heredoc("x=$A y='$B' \"${A}\"\n", env) == "x=1 y='two words' \"1\"\n");
    CHECK(builder::expand_heredoc("\\$A ${C:-none} \\\\\n", env) == "$A none \\\n");
}

TEST_CASE("ADD extracts local tar archives whatever their compression, keeping what tar keeps", "[add]") {
    Fixture f;
    const fs::path tree = f.dir.path() / "tree";
    write_text(tree / "bin" / "tool", "#!/bin/sh\necho tool\n");
    write_text(tree / "share" / "doc.txt", "doc\n");
    REQUIRE(::chmod((tree / "bin" / "tool").c_str(), 0750) == 0);
    REQUIRE(::symlink("bin/tool", (tree / "link").c_str()) == 0);
    run_or_fail("touch -h -d '2001-02-03 04:05:06Z' " + quote((tree / "bin" / "tool").string()));
    const std::string tar = "tar --numeric-owner --owner=1234 --group=567 -C " + quote(tree.string());
    const std::vector<std::pair<std::string, std::string>> kinds = {
        {"plain.tar", ""}, {"gz.tgz", "-z"}, {"bz.tar.bz2", "-j"}, {"xz.tar.xz", "-J"}, {"zst.tar.zst", "--zstd"}};
    for (const auto& [name, flag] : kinds) run_or_fail(tar + " " + flag + " -cf " + quote((f.context / name).string()) + " .");

    for (const auto& [name, flag] : kinds) {
        INFO(name);
        const auto r = f.build("FROM scratch\nADD --chown=9:9 " + name + " /opt/x\n");
        const fs::path x = f.top_layer(r) / "opt" / "x";
        CHECK(read_text(x / "bin" / "tool") == "#!/bin/sh\necho tool\n");
        const struct stat tool = lstat_of(x / "bin" / "tool");
        CHECK((tool.st_mode & 07777) == 0750);
        CHECK(tool.st_uid == 1234);  // the archive's owners stay: --chown is not applied to its entries
        CHECK(tool.st_gid == 567);
        CHECK(tool.st_mtim.tv_sec == 981173106);
        CHECK(fs::read_symlink(x / "link") == "bin/tool");
        CHECK(lstat_of(f.top_layer(r) / "opt").st_uid == 9);  // directories ADD makes are the --chown user's
    }

    SECTION("--unpack=false and files that only look like archives are copied as they are") {
        write_text(f.context / "fake.tar.gz", "not an archive\n");
        const auto r = f.build("FROM scratch\nADD --unpack=false gz.tgz /keep/\nADD fake.tar.gz /keep/\n");
        const auto layers = f.store.ensure_snapshots(f.image(r));
        CHECK(fs::file_size(layers[0] / "keep" / "gz.tgz") == fs::file_size(f.context / "gz.tgz"));
        CHECK(read_text(layers[1] / "keep" / "fake.tar.gz") == "not an archive\n");
    }
    SECTION("ADD copies plain files and directories like COPY, with --exclude") {
        write_text(f.context / "dir" / "a.txt", "a\n");
        write_text(f.context / "dir" / "b.log", "b\n");
        const auto r = f.build("FROM scratch\nADD --exclude=*.log dir /d/\n");
        CHECK(fs::exists(f.top_layer(r) / "d" / "a.txt"));
        CHECK_FALSE(fs::exists(f.top_layer(r) / "d" / "b.log"));
    }
}

TEST_CASE("ADD refuses a hostile archive by entry name and writes nothing outside", "[add]") {
    Fixture f;
    const std::string script = R"(
import io, sys, tarfile
def add(t, name, data=b"evil\n"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
def special(t, name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    t.addfile(info)
d = sys.argv[1]
with tarfile.open(d + "/dotdot.tar", "w") as t:
    add(t, "ok.txt", b"ok\n"); add(t, "../../evil")
with tarfile.open(d + "/absolute.tar", "w") as t:
    add(t, "/evil")
with tarfile.open(d + "/symlink.tar", "w") as t:
    special(t, "link", tarfile.SYMTYPE, "/"); add(t, "link/evil")
with tarfile.open(d + "/hardlink.tar", "w") as t:
    special(t, "hard", tarfile.LNKTYPE, "../../../etc/passwd")
with tarfile.open(d + "/device.tar", "w") as t:
    special(t, "null", tarfile.CHRTYPE)
with tarfile.open(d + "/whiteout.tar", "w") as t:
    add(t, "dir/.wh.file")
)";
    write_text(f.dir.path() / "make.py", script);
    run_or_fail("python3 " + quote((f.dir.path() / "make.py").string()) + " " + quote(f.context.string()));

    const std::vector<std::pair<std::string, std::string>> cases = {
        {"dotdot.tar", "tar entry '../../evil': '..'"},
        {"absolute.tar", "tar entry '/evil': absolute"},
        {"symlink.tar", "tar entry 'link/evil': 'link' is a symbolic link"},
        {"hardlink.tar", "tar entry 'hard'"},
        {"device.tar", "tar entry 'null': device nodes"},
        {"whiteout.tar", "tar entry 'dir/.wh.file'"},
    };
    for (const auto& [archive, message] : cases) {
        INFO(archive);
        CHECK_THROWS_WITH(f.build("FROM scratch\nADD " + archive + " /dst/\n"),
                          Catch::Contains("Buildfile:2") && Catch::Contains(archive) && Catch::Contains(message));
    }
    const auto found = sh("find " + quote(f.dir.path().string()) + " -name evil");
    CHECK(found.output.empty());
    CHECK_FALSE(fs::exists("/evil"));
    CHECK_FALSE(fs::exists("/dst"));
}

TEST_CASE("ADD downloads http URLs: mode 0600, Last-Modified, --checksum, errors", "[add]") {
    Fixture f;
    const fs::path served = f.dir.path() / "served";
    write_text(served / "files" / "tool.sh", "#!/bin/sh\necho downloaded\n");
    run_or_fail("touch -d '2010-05-06 07:08:09Z' " + quote((served / "files" / "tool.sh").string()));
    run_or_fail("tar -C " + quote((served / "files").string()) + " -czf " + quote((served / "bundle.tar.gz").string()) +
                " tool.sh");
    const std::string digest = "sha256:" + sh("sha256sum " + quote((served / "files" / "tool.sh").string())).output.substr(0, 64);
    HttpServer server(served, f.dir.path() / "http.log");

    const std::string url = server.url("files/tool.sh");
    const auto r = f.build("FROM scratch\n"
                           "ADD " + url + " /dl/\n"
                           "ADD --chmod=755 " + url + " /bin/named\n"
                           "ADD " + server.url("bundle.tar.gz") + " /archives/\n"
                           "ADD --unpack=true " + server.url("bundle.tar.gz") + " /unpacked\n");
    const auto layers = f.store.ensure_snapshots(f.image(r));
    REQUIRE(layers.size() == 4);
    CHECK(read_text(layers[0] / "dl" / "tool.sh") == "#!/bin/sh\necho downloaded\n");
    CHECK(mode_of(layers[0] / "dl" / "tool.sh") == 0600);
    CHECK(lstat_of(layers[0] / "dl" / "tool.sh").st_mtim.tv_sec == 1273129689);
    CHECK(mode_of(layers[1] / "bin" / "named") == 0755);
    CHECK(fs::is_regular_file(layers[2] / "archives" / "bundle.tar.gz"));  // URLs are not unpacked by default
    CHECK(read_text(layers[3] / "unpacked" / "tool.sh") == "#!/bin/sh\necho downloaded\n");

    SECTION("an unchanged download is a cache hit; with --checksum the URL is not even fetched") {
        const std::string checked = "FROM scratch\nADD --checksum=" + digest + " " + url + " /c/\n";
        f.build(checked);
        CHECK(read_text(f.top_layer(f.build(checked)) / "c" / "tool.sh") == "#!/bin/sh\necho downloaded\n");
        CHECK(f.cached() == 1);
        const std::size_t fetched = server.gets("files/tool.sh");
        f.build(checked);
        CHECK(server.gets("files/tool.sh") == fetched);
        f.build("FROM scratch\nADD " + url + " /dl/\n");
        CHECK(f.cached() == 1);
        CHECK(server.gets("files/tool.sh") == fetched + 1);
    }
    SECTION("a wrong checksum names both digests") {
        const std::string wrong = "sha256:" + std::string(64, '0');
        CHECK_THROWS_WITH(f.build("FROM scratch\nADD --checksum=" + wrong + " " + url + " /c/\n"),
                          Catch::Contains("checksum mismatch") && Catch::Contains(wrong) && Catch::Contains(digest));
        CHECK_THROWS_WITH(f.build("FROM scratch\nADD --checksum=md5:abc " + url + " /c/\n"), Catch::Contains("sha256:<64"));
    }
    SECTION("an HTTP error names the URL and the status") {
        const std::string missing = server.url("missing.txt");
        CHECK_THROWS_WITH(f.build("FROM scratch\nADD " + missing + " /m/\n"),
                          Catch::Contains(missing) && Catch::Contains("HTTP 404"));
    }
}

TEST_CASE("ADD refuses what it does not implement by name", "[add]") {
    Fixture f;
    write_text(f.context / "a.txt", "a\n");
    CHECK_THROWS_WITH(f.build("FROM scratch\nADD https://example.invalid/repo.git /src\n"),
                      Catch::Contains("ADD of a git repository is not supported yet"));
    CHECK_THROWS_WITH(f.build("FROM scratch\nADD git@example.invalid:org/repo /src\n"),
                      Catch::Contains("ADD of a git repository is not supported yet"));
    CHECK_THROWS_WITH(f.build("FROM scratch\nADD --keep-git-dir https://example.invalid/x.git /src\n"),
                      Catch::Contains("--keep-git-dir"));
    CHECK_THROWS_WITH(f.build("FROM scratch\nADD --checksum=sha256:" + std::string(64, 'a') + " a.txt /\n"),
                      Catch::Contains("--checksum requires an HTTP(S) source"));
    CHECK(f.executor.runs.empty());
}

TEST_CASE("URL helpers follow BuildKit's rules", "[add]") {
    using namespace strata::builder;
    CHECK(is_http_url("https://example.com/a.tar.gz"));
    CHECK_FALSE(is_http_url("https://github.com/moby/buildkit.git#v0.10"));
    CHECK(is_git_url("https://github.com/moby/buildkit.git#v0.10"));
    CHECK(is_git_url("git@github.com:moby/buildkit.git"));
    CHECK_FALSE(is_git_url("files/x.git"));
    CHECK(url_file_name("http://example.com/dir/file%20name.txt?x=1#frag") == "file name.txt");
    CHECK(url_file_name("http://example.com/dir/") == "dir");
    CHECK(url_file_name("http://example.com") == "__unnamed__");
    CHECK(url_file_name("http://example.com/..") == "__unnamed__");
}

} // namespace copy_add_test
