// Escapes through the real binary: `..` in a -v target or a WORKDIR, and symlinks in the
// image (absolute ones naming host paths, relative ones climbing past the root) used as a
// -v target, as `run -w` or as a Buildfile WORKDIR, resolve inside the container's root.
// Every case checks both sides: what the container sees, and that the host paths the
// links name stay absent (or, for an existing host directory, untouched); and where docker
// accepts a shape (a dangling link on the way, a link as the mount target), so does strata.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <unistd.h>

namespace escape_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {

// A token no other process uses, for paths that must never appear on the host.
std::string unique_token() {
    std::random_device random;
    return std::to_string(::getpid()) + "-" + std::to_string(random() % 1000000);
}

// Removes, at the end of a test, any of the host paths it says must stay absent: a failing
// check must not leave them behind for the next run (or another test) to trip over.
struct HostPaths {
    std::vector<fs::path> paths;
    const fs::path& add(const fs::path& path) {
        REQUIRE_FALSE(fs::exists(fs::symlink_status(path)));  // unique names: absent before the test
        return paths.emplace_back(path);
    }
    ~HostPaths() {
        std::error_code ec;
        for (const auto& path : paths) fs::remove_all(path, ec);
    }
};

bool absent(const fs::path& path) { return !fs::exists(fs::symlink_status(path)); }

// The names of a directory's entries.
std::set<std::string> entries(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
    return names;
}

// Every path below `dir` whose name contains `needle`.
std::vector<std::string> found_below(const fs::path& dir, const std::string& needle) {
    std::vector<std::string> found;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
         it.increment(ec)) {
        if (it->path().filename().string().find(needle) != std::string::npos) found.push_back(it->path().string());
    }
    return found;
}

// A store with busybox and `escape-base`: busybox plus symlinks that would lead out of the
// container if they were followed on the host. The image has the targets of some:
//   /absdir   -> /tmp/strata-escape-TOKEN-absdir                    (absolute)
//   /reldir   -> ../../../../../../tmp/strata-escape-TOKEN-reldir   (relative, climbing past /)
//   /up       -> ../../../..                                        (the root, from above it)
//   /hostdir  -> HOSTDIR_IN_IMAGE                                   (a host directory too)
// and not of the others (dangling in the image):
//   /abs      -> /tmp/strata-escape-TOKEN-abs
//   /rel      -> ../../../../../../tmp/strata-escape-TOKEN-rel
//   /hostlink -> HOSTDIR                                            (a host directory too)
// None of the /tmp/strata-escape-TOKEN-* paths exists on the host; HOSTDIR and
// HOSTDIR_IN_IMAGE do, and must stay empty.
struct EscapeStore : BusyboxStore {
    std::string token = unique_token();
    std::string abs_target = "/tmp/strata-escape-" + token + "-abs";
    std::string rel_target = "/tmp/strata-escape-" + token + "-rel";
    std::string absdir_target = "/tmp/strata-escape-" + token + "-absdir";
    std::string reldir_target = "/tmp/strata-escape-" + token + "-reldir";
    ScratchDir host_dir{"strata-escape-host-"};
    ScratchDir host_dir_in_image{"strata-escape-host-"};
    CommandResult base_build;

    EscapeStore() {
        if (busybox_build.exit_code != 0) return;
        const std::string host = host_dir.path().string(), host_in_image = host_dir_in_image.path().string();
        base_build = build("FROM busybox\n"
                           "RUN ln -s " + absdir_target + " /absdir && mkdir -p " + absdir_target +
                           " && ln -s ../../../../../.." + reldir_target + " /reldir && mkdir -p " + reldir_target +
                           " && ln -s ../../../.. /up"
                           " && ln -s " + host_in_image + " /hostdir && mkdir -p " + host_in_image +
                           " && ln -s " + abs_target + " /abs"
                           " && ln -s ../../../../../.." + rel_target + " /rel"
                           " && ln -s " + host + " /hostlink\n",
                           "-t escape-base");
    }

    // The /tmp/strata-escape-TOKEN-* paths are absent on the host; the host dirs are empty.
    void check_link_targets_untouched() const {
        for (const auto& path : {abs_target, rel_target, absdir_target, reldir_target}) {
            INFO(path);
            CHECK(absent(path));
        }
        CHECK(fs::is_empty(host_dir.path()));
        CHECK(fs::is_empty(host_dir_in_image.path()));
    }
    // Registers the /tmp/strata-escape-TOKEN-* paths for removal should a check fail.
    void guard(HostPaths& paths) const {
        for (const auto& path : {abs_target, rel_target, absdir_target, reldir_target}) paths.add(path);
    }
};

struct ThisFile;
EscapeStore& store() {
    auto* s = &file_store<ThisFile, EscapeStore>();
    INFO(s->base_build.output);
    REQUIRE(s->base_build.exit_code == 0);
    return *s;
}

// The host paths a container path could reach if `..` or a symlink were resolved on the
// host: the root, the temp directories, and the test's scratch directory (the store's
// run directories, where mount stubs are made, are below it). When the image itself has
// `name`, the store's snapshots hold it rightly and are not searched.
void check_nowhere_on_host(const EscapeStore& s, const std::string& name, bool image_has_it = false) {
    for (const fs::path& dir : {fs::path("/"), fs::path("/tmp"), fs::path("/var/tmp"), s.dir.path(), s.root})
        CHECK(absent(dir / name));
    auto found = found_below(s.dir.path(), name);
    if (image_has_it) {
        const std::string snapshots = (s.root / "snapshots").string() + "/";
        std::erase_if(found, [&](const std::string& path) { return path.rfind(snapshots, 0) == 0; });
    }
    INFO("found: " << Catch::Detail::stringify(found));
    CHECK(found.empty());
}

} // namespace

TEST_CASE("-v with .. in the target binds inside the container; nothing is made outside the host directory",
          "[integration][escape]") {
    auto& s = store();
    const std::string name = "strata-escape-" + s.token + "-dots";
    HostPaths host_paths;
    for (const fs::path& dir : {fs::path("/"), fs::path("/tmp"), fs::path("/var/tmp")}) host_paths.add(dir / name);

    // A short climb, and one long enough to reach / from any host directory a stub could be made in.
    std::string deep = "/a/b/c";
    for (int i = 0; i < 24; ++i) deep += "/..";
    for (const std::string& target : {"/a/../../../" + name, deep + "/" + name}) {
        DYNAMIC_SECTION("-v HOST:" << target) {
            ScratchDir host;
            write_text(host.path() / "in", "from host\n");
            const auto r = s.strata("run -v " + quote(host.path().string() + ":" + target) +
                                    " busybox sh -c " +
                                    quote("cat /" + name + "/in && echo out > /" + name + "/out && "
                                          "grep -q ' /" + name + " ' /proc/mounts && echo mounted"));
            INFO(r.output);
            CHECK(r.exit_code == 0);
            // Mounted at /NAME: the target is cleaned lexically, never above the root, as docker does.
            CHECK(r.output == "from host\nmounted\n");
            CHECK(read_text(host.path() / "out") == "out\n");
            CHECK(entries(host.path()) == std::set<std::string>{"in", "out"});
            check_nowhere_on_host(s, name);
        }
    }

    SECTION("--mount target with ..") {
        ScratchDir host;
        write_text(host.path() / "in", "via mount\n");
        const auto r = s.strata("run --mount " + quote("type=bind,src=" + host.path().string() + ",dst=" + deep + "/" + name) +
                                " busybox cat /" + name + "/in");
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(r.output == "via mount\n");
        CHECK(entries(host.path()) == std::set<std::string>{"in"});
        check_nowhere_on_host(s, name);
    }
}

TEST_CASE("a -v target through an image symlink binds where the link leads inside the container",
          "[integration][escape]") {
    auto& s = store();
    HostPaths host_paths;
    s.guard(host_paths);
    const std::string name = "strata-escape-" + s.token + "-vup";
    host_paths.add("/" + name);

    struct Case {
        std::string target;    // the -v target, through an image symlink
        std::string resolved;  // where it is inside the container
    };
    const std::vector<Case> cases = {
        {"/absdir/sub", s.absdir_target + "/sub"},
        {"/reldir/sub", s.reldir_target + "/sub"},
        {"/up/" + name, "/" + name},
        {"/hostdir/sub", s.host_dir_in_image.path().string() + "/sub"},
    };
    for (const auto& c : cases) {
        DYNAMIC_SECTION("-v HOST:" << c.target) {
            ScratchDir host;
            write_text(host.path() / "in", "bound\n");
            const auto r = s.strata("run -v " + quote(host.path().string() + ":" + c.target) + " escape-base sh -c " +
                                    quote("cat " + c.target + "/in && echo written > " + c.target + "/out && "
                                          "grep -q ' " + c.resolved + " ' /proc/mounts && echo mounted at " + c.resolved));
            INFO(r.output);
            CHECK(r.exit_code == 0);
            CHECK(r.output == "bound\nmounted at " + c.resolved + "\n");
            CHECK(read_text(host.path() / "out") == "written\n");
            CHECK(entries(host.path()) == std::set<std::string>{"in", "out"});
            s.check_link_targets_untouched();
            check_nowhere_on_host(s, name);
        }
    }
}

TEST_CASE("run -w through an image symlink or above / stays inside the container's root", "[integration][escape]") {
    auto& s = store();
    HostPaths host_paths;
    s.guard(host_paths);
    const std::string name = "strata-escape-" + s.token + "-w";
    host_paths.add("/" + name);
    host_paths.add("/tmp/" + name);

    struct Case {
        std::string workdir;   // -w
        std::string resolved;  // the physical working directory in the container
    };
    const std::vector<Case> cases = {
        {"/absdir/sub", s.absdir_target + "/sub"},
        {"/reldir/deeper/sub", s.reldir_target + "/deeper/sub"},
        {"/up/" + name + "/x", "/" + name + "/x"},
        {"/hostdir/sub", s.host_dir_in_image.path().string() + "/sub"},
        {"/../../../" + name, "/" + name},
        {"/tmp/../../../../" + name + "/y", "/" + name + "/y"},
    };
    for (const auto& c : cases) {
        DYNAMIC_SECTION("-w " << c.workdir) {
            const auto r = s.strata("run -w " + quote(c.workdir) + " escape-base sh -c 'echo x > f && pwd -P && cat " +
                                    c.resolved + "/f'");
            INFO(r.output);
            CHECK(r.exit_code == 0);
            CHECK(r.output == c.resolved + "\nx\n");
            s.check_link_targets_untouched();
            check_nowhere_on_host(s, name);
        }
    }
}

namespace {

// The lines of the host's mount table that name `path`: a mount made through an image
// symlink on the host side, rather than inside the container, would show here.
std::vector<std::string> host_mounts_at(const std::string& path) {
    std::vector<std::string> found;
    std::istringstream lines(read_text("/proc/self/mountinfo"));
    for (std::string line; std::getline(lines, line);)
        if (line.find(" " + path + " ") != std::string::npos || line.find(" " + path + "/") != std::string::npos)
            found.push_back(line);
    return found;
}

// The runs that use an image symlink as (a part of) a mount target or the working
// directory; "HOST" is replaced by a fresh host directory to bind.
std::vector<std::string> link_runs() {
    std::vector<std::string> runs;
    for (const char* path : {"/abs/sub", "/rel/deeper/sub", "/hostlink/sub", "/abs", "/hostlink", "/hostdir", "/absdir"}) {
        runs.push_back(std::string("-v HOST:") + path);
        runs.push_back(std::string("-w ") + path);
    }
    for (const char* path : {"/hostlink", "/hostdir", "/hostlink/sub"}) {
        runs.push_back(std::string("--tmpfs ") + path);
        runs.push_back(std::string("-v escape-vol:") + path);
    }
    return runs;
}

} // namespace

TEST_CASE("however a run uses an image symlink naming a host path, the host is not touched", "[integration][escape]") {
    auto& s = store();
    HostPaths host_paths;
    s.guard(host_paths);
    for (const auto& run : link_runs()) {
        DYNAMIC_SECTION(run) {
            ScratchDir host;
            std::string flags = run;
            if (flags.rfind("-v HOST:", 0) == 0) flags = "-v " + quote(host.path().string() + ":" + run.substr(8));
            const auto r = s.strata("run " + flags + " escape-base sh -c 'touch written; ls -A'");
            INFO(r.output);
            // Either it ran (inside the container) or strata refused it, before anything ran.
            CHECK((r.exit_code == 0 || r.exit_code == 125));
            s.check_link_targets_untouched();
            CHECK(fs::is_empty(host.path()));  // the bind's own directory: the command did not write there
            for (const auto& path : {s.abs_target, s.rel_target, s.host_dir.path().string(),
                                     s.host_dir_in_image.path().string(), s.absdir_target}) {
                INFO(path);
                CHECK(host_mounts_at(path).empty());
            }
        }
    }
}

// A -w or -v target through an image symlink whose target directory the image lacks: the
// directory is made where the link leads, inside the root (runc's MkdirAllInRoot does so).
TEST_CASE("a dangling image symlink in a -v target or -w is made inside the root, as docker does",
          "[integration][escape]") {
    auto& s = store();
    HostPaths host_paths;
    s.guard(host_paths);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/abs/sub", s.abs_target + "/sub"},
        {"/rel/deeper/sub", s.rel_target + "/deeper/sub"},
        {"/hostlink/sub", s.host_dir.path().string() + "/sub"},
    };
    for (const auto& [path, resolved] : cases) {
        DYNAMIC_SECTION("-v HOST:" << path) {
            ScratchDir host;
            const auto r = s.strata("run -v " + quote(host.path().string() + ":" + path) + " escape-base sh -c " +
                                    quote("echo written > " + path + "/out && grep -q ' " + resolved +
                                          " ' /proc/mounts && echo mounted at " + resolved));
            INFO(r.output);
            CHECK(r.exit_code == 0);
            CHECK(r.output == "mounted at " + resolved + "\n");
            CHECK(read_text(host.path() / "out") == "written\n");
            s.check_link_targets_untouched();
        }
        DYNAMIC_SECTION("-w " << path) {
            const auto r = s.strata("run -w " + quote(path) + " escape-base sh -c 'echo x > f && pwd -P'");
            INFO(r.output);
            CHECK(r.exit_code == 0);
            CHECK(r.output == resolved + "\n");
            s.check_link_targets_untouched();
        }
    }
}

// A mount target that is itself an image symlink: the mount lands where the link leads,
// inside the root (as runc's securejoin resolves it).
TEST_CASE("a mount target that is itself an image symlink mounts where the link leads inside the root, as docker does",
          "[integration][escape]") {
    auto& s = store();
    HostPaths host_paths;
    s.guard(host_paths);
    const std::string in_image = s.host_dir_in_image.path().string();
    SECTION("-v HOST:/hostdir and -v HOST:/absdir") {
        for (const auto& [target, resolved] :
             std::vector<std::pair<std::string, std::string>>{{"/hostdir", in_image}, {"/absdir", s.absdir_target}}) {
            ScratchDir host;
            write_text(host.path() / "in", "bound\n");
            const auto r = s.strata("run -v " + quote(host.path().string() + ":" + target) + " escape-base sh -c " +
                                    quote("cat " + target + "/in && grep -q ' " + resolved + " ' /proc/mounts && echo mounted"));
            INFO(r.output);
            CHECK(r.exit_code == 0);
            CHECK(r.output == "bound\nmounted\n");
        }
    }
    SECTION("a named volume on /hostdir is not filled from anywhere but the image") {
        const auto r = s.strata("run -v escape-vol2:/hostdir escape-base sh -c 'echo in-volume > /hostdir/v && ls -A /hostdir'");
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(r.output == "v\n");
        CHECK(read_text(s.root / "volumes" / "escape-vol2" / "_data" / "v") == "in-volume\n");
    }
    SECTION("--tmpfs /hostdir") {
        const auto r = s.strata("run --tmpfs /hostdir escape-base sh -c " + quote("grep -q ' " + in_image + " tmpfs ' /proc/mounts && echo tmpfs"));
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(r.output == "tmpfs\n");
    }
    s.check_link_targets_untouched();
}

TEST_CASE("WORKDIR with .. stays at or under the container's root", "[integration][escape]") {
    auto& s = store();
    const std::string name = "strata-escape-" + s.token + "-workdir";
    HostPaths host_paths;
    for (const fs::path& dir : {fs::path("/"), fs::path("/tmp"), fs::path("/var/tmp")}) host_paths.add(dir / name);
    const auto r = s.build("FROM busybox\n"
                           "WORKDIR /a\n"
                           "WORKDIR ../../../../" + name + "\n"
                           "RUN pwd -P > /where && echo here > marker\n"
                           "WORKDIR /../../..\n"
                           "RUN pwd -P > /where-root\n"
                           "WORKDIR /" + name + "/../../../sub\n"
                           "RUN pwd -P > /where-sub\n",
                           "-t escape-dots");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(s.strata("run escape-dots cat /where /" + name + "/marker /where-root /where-sub").output ==
          "/" + name + "\nhere\n/\n/sub\n");
    CHECK(s.config("escape-dots:latest")["config"]["WorkingDir"] == "/sub");
    check_nowhere_on_host(s, name, true);
    CHECK(s.layer_listing("escape-dots").find(name + "/marker\n") != std::string::npos);
}

TEST_CASE("RUN and COPY under a WORKDIR through an image symlink write into the image, not the host",
          "[integration][escape]") {
    auto& s = store();
    HostPaths host_paths;
    s.guard(host_paths);
    const std::string name = "strata-escape-" + s.token + "-build";
    host_paths.add("/" + name);
    const std::string host_dir = s.host_dir.path().string();

    // The dangling links: the WORKDIR step makes their targets in the image.
    const auto r = s.build("FROM escape-base\n"
                           "WORKDIR /abs/sub\n"
                           "RUN echo built > file && pwd -P > /where-abs\n"
                           "COPY ctx.txt .\n"
                           "WORKDIR /rel/sub\n"
                           "RUN echo built > file && pwd -P > /where-rel\n"
                           "COPY ctx.txt .\n"
                           "WORKDIR /up/" + name + "/sub\n"
                           "RUN echo built > file && pwd -P > /where-up\n"
                           "WORKDIR /hostlink/sub\n"
                           "RUN echo built > file && pwd -P > /where-host\n"
                           "COPY ctx.txt .\n",
                           "-t escape-build", {{"ctx.txt", "from context\n"}});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);

    // The host: none of the links' targets was created or written.
    s.check_link_targets_untouched();
    check_nowhere_on_host(s, name, true);

    // The image: everything is where the links lead inside it.
    const auto run = s.strata("run escape-build cat /where-abs /where-rel /where-up /where-host " + s.abs_target + "/sub/file " +
                              s.abs_target + "/sub/ctx.txt " + s.rel_target + "/sub/file " + s.rel_target + "/sub/ctx.txt /" +
                              name + "/sub/file " + host_dir + "/sub/file " + host_dir + "/sub/ctx.txt");
    INFO(run.output);
    CHECK(run.exit_code == 0);
    CHECK(run.output == s.abs_target + "/sub\n" + s.rel_target + "/sub\n/" + name + "/sub\n" + host_dir + "/sub\n" +
                            "built\nfrom context\nbuilt\nfrom context\nbuilt\nbuilt\nfrom context\n");
    const auto listing = s.layer_listing("escape-build");
    for (const std::string& file : {s.abs_target + "/sub/file", s.abs_target + "/sub/ctx.txt", s.rel_target + "/sub/file",
                                     "/" + name + "/sub/file", host_dir + "/sub/file", host_dir + "/sub/ctx.txt"}) {
        INFO(file);
        CHECK(listing.find(file.substr(1) + "\n") != std::string::npos);
    }
    // The links themselves are still links in the image, not replaced by directories.
    CHECK(s.strata("run escape-build sh -c 'test -L /abs && test -L /rel && test -L /up && test -L /hostlink && echo links'")
              .output == "links\n");
}

} // namespace escape_test
