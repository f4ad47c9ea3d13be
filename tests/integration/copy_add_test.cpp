// COPY and ADD end to end through the real binary, on a busybox base built in a store of
// this file's own: what they write is seen by RUN steps and by `strata run`.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>

#include <memory>

namespace copy_add_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {

struct ThisFile;
BusyboxStore& busybox_store() { return file_store<ThisFile>(); }

} // namespace

TEST_CASE("ADD unpacks an archive and COPY writes heredocs that RUN and strata run see", "[integration]") {
    auto& s = busybox_store();
    INFO(s.busybox_build.output);
    REQUIRE(s.busybox_build.exit_code == 0);
    ScratchDir ctx;
    write_text(ctx.path() / "payload" / "app" / "data.txt", "from the archive\n");
    REQUIRE(sh("tar -C " + quote((ctx.path() / "payload").string()) + " -czf " + quote((ctx.path() / "app.tar.gz").string()) +
               " app")
                .exit_code == 0);
    write_text(ctx.path() / "Buildfile", "FROM busybox\n"
                                         "ARG NAME=strata\n"
                                         "ADD app.tar.gz /opt/\n"
                                         "COPY --chmod=0755 <<EOF /opt/hello.sh\n"
                                         "#!/bin/sh\n"
                                         "echo \"hello $NAME\" > /out.txt\n"
                                         "EOF\n"
                                         "RUN /opt/hello.sh\n");
    const auto build = s.strata("build -t add-heredoc " + quote(ctx.path().string()));
    INFO(build.output);
    REQUIRE(build.exit_code == 0);
    const auto run = s.strata("run add-heredoc cat /out.txt /opt/app/data.txt");
    INFO(run.output);
    CHECK(run.exit_code == 0);
    CHECK(run.output == "hello strata\nfrom the archive\n");
}

TEST_CASE("COPY --from an image of the store copies out of its layers", "[integration]") {
    auto& s = busybox_store();
    REQUIRE(s.busybox_build.exit_code == 0);
    ScratchDir ctx;
    write_text(ctx.path() / "Buildfile", "FROM scratch\n"
                                         "COPY --from=busybox /bin/busybox /bin/\n"
                                         "COPY --from=busybox /etc/passwd /etc/passwd\n"
                                         "ENTRYPOINT [\"/bin/busybox\"]\n");
    const auto build = s.strata("build -t from-image " + quote(ctx.path().string()));
    INFO(build.output);
    REQUIRE(build.exit_code == 0);
    const auto run = s.strata("run from-image head -n 1 /etc/passwd");
    INFO(run.output);
    CHECK(run.exit_code == 0);
    CHECK(run.output == "root:x:0:0:root:/root:/bin/sh\n");
}

TEST_CASE("COPY --link keeps its cached layer when a step below it changes", "[integration]") {
    auto& s = busybox_store();
    REQUIRE(s.busybox_build.exit_code == 0);
    ScratchDir ctx;
    write_text(ctx.path() / "app.txt", "linked\n");
    write_text(ctx.path() / "Buildfile", "FROM busybox\n"
                                         "ARG V\n"
                                         "RUN echo $V > /v\n"
                                         "COPY --link app.txt /app/\n");
    const std::string build = "build -t linked " + quote(ctx.path().string());
    const auto first = s.strata(build + " --build-arg V=1");
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    const auto second = s.strata(build + " --build-arg V=2");
    INFO(second.output);
    REQUIRE(second.exit_code == 0);
    CHECK(count_occurrences(second.output, "CACHED") == 1);  // the RUN ran again, the linked COPY did not
    const auto run = s.strata("run linked cat /v /app/app.txt");
    INFO(run.output);
    CHECK(run.output == "2\nlinked\n");
}

} // namespace copy_add_test
