// Every Dockerfile instruction and flag BuildKit accepts, as typed instructions, and the
// errors for bad flag values (with the column of the flag).
#include "parser/buildfile.hpp"
#include "parser/flag_values.hpp"

#include <catch2/catch.hpp>

namespace language_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::parser;

namespace {

Dag parse(std::string_view text, const ParseOptions& options = {}) { return parse_buildfile(text, options); }

Instruction only_step(std::string_view text) {
    const auto dag = parse(text);
    REQUIRE(dag.stages.size() == 1);
    REQUIRE(dag.stages[0].steps.size() == 1);
    return dag.stages[0].steps[0];
}

std::string error_of(std::string_view text) {
    try {
        parse(text);
    } catch (const strata::Error& e) {
        return e.what();
    }
    FAIL("expected an error for: " << text);
    return {};
}

} // namespace

TEST_CASE("every instruction has a kind and a name", "[language]") {
    const std::vector<std::pair<Kind, std::string>> kinds = {
        {Kind::add, "ADD"},     {Kind::expose, "EXPOSE"},         {Kind::volume, "VOLUME"},
        {Kind::user, "USER"},   {Kind::shell, "SHELL"},           {Kind::healthcheck, "HEALTHCHECK"},
        {Kind::stopsignal, "STOPSIGNAL"}, {Kind::onbuild, "ONBUILD"}, {Kind::maintainer, "MAINTAINER"}};
    for (const auto& [kind, name] : kinds) {
        CHECK(kind_name(kind) == name);
    }
    // The first nine keep their order: the builder and the cache depend on them.
    CHECK(static_cast<int>(Kind::arg) == 8);
}

TEST_CASE("ADD with all its flags", "[language]") {
    const auto add = only_step("FROM a\nADD --chown=1:2 --chmod=755 --link --keep-git-dir=true "
                               "--checksum=sha256:abc --exclude=*.md --exclude=tmp --unpack=false "
                               "https://x/y.tgz /opt/\n");
    CHECK(add.kind == Kind::add);
    CHECK(add.sources == std::vector<std::string>{"https://x/y.tgz"});
    CHECK(add.dest == "/opt/");
    CHECK(add.chown == "1:2");
    CHECK(add.chmod == "755");
    CHECK(add.link);
    CHECK(add.keep_git_dir);
    CHECK(add.checksum == "sha256:abc");
    CHECK(add.excludes == std::vector<std::string>{"*.md", "tmp"});
    CHECK(add.unpack == false);
    CHECK(add.flag_names ==
          std::vector<std::string>{"chown", "chmod", "link", "keep-git-dir", "checksum", "exclude", "exclude", "unpack"});
    CHECK_THAT(error_of("FROM a\nADD x\n"), Catch::Contains("ADD requires at least two arguments"));
}

TEST_CASE("COPY with all its flags", "[language]") {
    const auto copy = only_step("FROM a\nCOPY --from=img --chown=app --chmod=0644 --link=false --parents "
                                "--exclude='*.log' [\"a b\", \"/d/\"]\n");
    CHECK(copy.copy_from == "img");
    CHECK(copy.chown == "app");
    CHECK(copy.chmod == "0644");
    CHECK_FALSE(copy.link);
    CHECK(copy.parents);
    CHECK(copy.excludes == std::vector<std::string>{"*.log"});
    CHECK(copy.sources == std::vector<std::string>{"a b"});
    CHECK_FALSE(copy.unpack);
    CHECK(only_step("FROM a\nCOPY --from= x y\n").copy_from.empty());  // BuildKit allows an empty value
    CHECK_THAT(error_of("FROM a\nCOPY --keep-git-dir x y\n"), Catch::Contains("unknown flag: --keep-git-dir"));
}

TEST_CASE("EXPOSE, VOLUME, USER, STOPSIGNAL, MAINTAINER, SHELL", "[language]") {
    const auto dag = parse("FROM a\nEXPOSE 80/tcp 53/udp ${PORT}\nVOLUME [\"/data\", \"/logs\"]\nVOLUME /a /b\n"
                           "USER app:staff\nSTOPSIGNAL SIGTERM\nMAINTAINER Jane Doe <j@d>\n"
                           "SHELL [\"/bin/bash\", \"-c\"]\n");
    const auto& steps = dag.stages.at(0).steps;
    REQUIRE(steps.size() == 7);
    CHECK(steps[0].values == std::vector<std::string>{"80/tcp", "53/udp", "${PORT}"});
    CHECK(steps[1].kind == Kind::volume);
    CHECK(steps[1].values == std::vector<std::string>{"/data", "/logs"});
    CHECK(steps[2].values == std::vector<std::string>{"/a", "/b"});
    CHECK(steps[3].user == "app:staff");
    CHECK(steps[4].signal == "SIGTERM");
    CHECK(steps[5].maintainer == "Jane Doe <j@d>");
    CHECK(steps[6].command == std::vector<std::string>{"/bin/bash", "-c"});
    CHECK_THAT(error_of("FROM a\nSHELL /bin/sh -c\n"), Catch::Contains("SHELL requires the arguments to be in JSON form"));
    CHECK_THAT(error_of("FROM a\nEXPOSE\n"), Catch::Contains("EXPOSE requires at least one argument"));
    CHECK_THAT(error_of("FROM a\nVOLUME [\" \"]\n"), Catch::Contains("VOLUME specified can not be an empty string"));
    CHECK_THAT(error_of("FROM a\nUSER\n"), Catch::Contains("USER requires exactly one argument"));
    CHECK_THAT(error_of("FROM a\nSTOPSIGNAL\n"), Catch::Contains("STOPSIGNAL requires exactly one argument"));
}

TEST_CASE("HEALTHCHECK forms and flags", "[language]") {
    const auto shell = only_step("FROM a\nHEALTHCHECK --interval=1m30s --timeout=2.5s --start-period=100ms "
                                 "--start-interval=1h --retries=3 CMD curl -f http://x/ || exit 1\n");
    CHECK(shell.healthcheck.test == std::vector<std::string>{"CMD-SHELL", "curl -f http://x/ || exit 1"});
    CHECK(shell.healthcheck.interval_ns == 90'000'000'000LL);
    CHECK(shell.healthcheck.timeout_ns == 2'500'000'000LL);
    CHECK(shell.healthcheck.start_period_ns == 100'000'000LL);
    CHECK(shell.healthcheck.start_interval_ns == 3'600'000'000'000LL);
    CHECK(shell.healthcheck.retries == 3);
    const auto exec = only_step("FROM a\nhealthcheck cmd [\"/bin/check\", \"-q\"]\n");
    CHECK(exec.healthcheck.test == std::vector<std::string>{"CMD", "/bin/check", "-q"});
    CHECK(exec.healthcheck.interval_ns == 0);
    CHECK(only_step("FROM a\nHEALTHCHECK NONE\n").healthcheck.test == std::vector<std::string>{"NONE"});
    CHECK(only_step("FROM a\nHEALTHCHECK --interval=0s CMD x\n").healthcheck.interval_ns == 0);

    CHECK_THAT(error_of("FROM a\nHEALTHCHECK NONE x\n"), Catch::Contains("HEALTHCHECK NONE takes no arguments"));
    CHECK_THAT(error_of("FROM a\nHEALTHCHECK CMD\n"), Catch::Contains("Missing command after HEALTHCHECK CMD"));
    CHECK_THAT(error_of("FROM a\nHEALTHCHECK CONNECT TCP 7000\n"),
               Catch::Contains("Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"));
    CHECK(error_of("FROM a\nHEALTHCHECK --interval=5 CMD x\n") ==
          "Buildfile:2:13: --interval: time: missing unit in duration \"5\"\n"
          "HEALTHCHECK --interval=5 CMD x\n            ^");
    CHECK_THAT(error_of("FROM a\nHEALTHCHECK --timeout=10us CMD x\n"),
               Catch::Contains("Buildfile:2:13: Interval \"timeout\" cannot be less than 1ms"));
    CHECK_THAT(error_of("FROM a\nHEALTHCHECK --retries=-1 CMD x\n"), Catch::Contains("--retries cannot be negative (-1)"));
    CHECK_THAT(error_of("FROM a\nHEALTHCHECK --retries=many CMD x\n"), Catch::Contains("invalid syntax"));
    CHECK_THAT(error_of("FROM a\nHEALTHCHECK --intervall=5s CMD x\n"),
               Catch::Contains("unknown flag: --intervall (did you mean --interval?)"));
}

TEST_CASE("Go durations", "[language]") {
    CHECK(parse_go_duration("0") == 0);
    CHECK(parse_go_duration("1h2m3s") == 3'723'000'000'000LL);
    CHECK(parse_go_duration("1.5ms") == 1'500'000);
    CHECK(parse_go_duration("2us") == 2000);
    CHECK(parse_go_duration("2\xC2\xB5s") == 2000);
    CHECK(parse_go_duration("-1s") == -1'000'000'000LL);
    CHECK_THROWS_WITH(parse_go_duration(""), Catch::Contains("invalid duration"));
    CHECK_THROWS_WITH(parse_go_duration("1x"), Catch::Contains("unknown unit \"x\""));
    CHECK_THROWS_WITH(parse_go_duration("s"), Catch::Contains("invalid duration"));
    CHECK_THROWS_WITH(parse_go_duration("1..2s"), Catch::Contains("invalid duration"));
    CHECK_THROWS(parse_go_duration("99999999999h"));
}

TEST_CASE("RUN --network and --security", "[language]") {
    const auto run = only_step("FROM a\nRUN --network=none --security=insecure make\n");
    CHECK(run.network == "none");
    CHECK(run.security == "insecure");
    CHECK(run.command == std::vector<std::string>{"make"});
    CHECK(only_step("FROM a\nRUN make\n").network.empty());
    CHECK(error_of("FROM a\nRUN  --network=bridge make\n") ==
          "Buildfile:2:6: unsupported network mode \"bridge\" (expected default, none or host)\n"
          "RUN  --network=bridge make\n     ^");
    CHECK_THAT(error_of("FROM a\nRUN --security=yes make\n"), Catch::Contains("unsupported security mode \"yes\""));
    CHECK_THAT(error_of("FROM a\nRUN --network=host --network=none make\n"),
               Catch::Contains("duplicate flag specified: --network"));
    CHECK_THAT(error_of("FROM a\nRUN --mount make\n"), Catch::Contains("missing a value on flag: --mount"));
}

TEST_CASE("RUN --mount types and options", "[language]") {
    const auto run = only_step(
        "FROM a\nRUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000,gid=1000 "
        "--mount=type=bind,source=src,dst=/src,from=builder,rw "
        "--mount=type=tmpfs,destination=/tmp,size=64m "
        "--mount=type=secret,id=token,env=TOKEN,required "
        "--mount=type=ssh,required=false "
        "--mount=target=/ctx pip install .\n");
    REQUIRE(run.mounts.size() == 6);
    const auto& cache = run.mounts[0];
    CHECK(cache.type == "cache");
    CHECK(cache.target == "/root/.cache");
    CHECK(cache.id == "pip");
    CHECK(cache.sharing == "locked");
    CHECK(cache.mode == 0700u);
    CHECK(cache.uid == 1000u);
    CHECK(cache.gid == 1000u);
    CHECK_FALSE(cache.readonly);  // caches are writable unless said otherwise
    const auto& bind = run.mounts[1];
    CHECK(bind.type == "bind");
    CHECK(bind.source == "src");
    CHECK(bind.target == "/src");
    CHECK(bind.from == "builder");
    CHECK_FALSE(bind.from_stage);  // no stage of that name: an image
    CHECK_FALSE(bind.readonly);
    CHECK(run.mounts[2].size == 64LL << 20);
    CHECK_FALSE(run.mounts[2].readonly);
    CHECK(run.mounts[3].env == "TOKEN");
    CHECK(run.mounts[3].required);
    CHECK(run.mounts[3].readonly);
    CHECK(run.mounts[4].type == "ssh");
    CHECK_FALSE(run.mounts[4].required);
    CHECK(run.mounts[5].type == "bind");  // the default type
    CHECK(run.mounts[5].readonly);        // binds are read-only by default
    // CSV quoting reaches the mount parser when the quotes are escaped (flag words lose plain quotes).
    const auto quoted = only_step("FROM a\nRUN --mount=type=bind,\\\"target=/a,b\\\",ro x\n").mounts.at(0);
    CHECK(quoted.target == "/a,b");
    CHECK(quoted.readonly);
}

TEST_CASE("RUN --mount errors point at the flag", "[language]") {
    CHECK(error_of("FROM a\nRUN --mount=type=volume,target=/x make\n") ==
          "Buildfile:2:5: --mount: unsupported mount type \"volume\" (expected bind, cache, tmpfs, secret or ssh)\n"
          "RUN --mount=type=volume,target=/x make\n    ^");
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"type=cache,sharing=all", "unsupported sharing value \"all\""},
        {"type=bind,sharing=locked", "invalid cache sharing set for bind mount"},
        {"type=bind,mode=0700", "mode not allowed for \"bind\" type mounts"},
        {"type=cache,mode=999", "invalid value 999 for mode"},
        {"type=cache,uid=-1", "invalid value -1 for uid"},
        {"type=tmpfs,target=/t,size=lots", "invalid size: 'lots'"},
        {"type=cache,size=1m", "size not allowed for \"cache\" type mounts"},
        {"type=bind,required", "unexpected key 'required' for mount type 'bind'"},
        {"type=bind,readonly=maybe", "invalid value for readonly: maybe"},
        {"type=bind,colour=red", "unexpected key 'colour'"},
        {"type=bind,target", "invalid field 'target' must be a key=value pair"},
        {"type=secret", "invalid secret mount. one of source, target, id or env required"},
        {"type=secret,id=a,from=b", "secret mount should not have a from"},
        {"type=bind,from=$STAGE", "'from' doesn't support variable expansion"},
        {"type=bind,\\\"target=/a", "failed to parse csv mounts"},
        {"type=bind,tar\\\"get=/a", "failed to parse csv mounts"},
    };
    for (const auto& [value, message] : bad) {
        INFO(value);
        CHECK_THAT(error_of("FROM a\nRUN --mount=" + value + " make\n"), Catch::Contains(message));
    }
    // A value with a variable is kept for the builder to expand.
    CHECK(only_step("FROM a\nRUN --mount=type=cache,target=$HOME/.cache,mode=$M x\n").mounts.at(0).target ==
          "$HOME/.cache");
}

TEST_CASE("memory sizes as docker reads them", "[language]") {
    CHECK(parse_ram_bytes("100") == 100);
    CHECK(parse_ram_bytes("1k") == 1024);
    CHECK(parse_ram_bytes("64MiB") == 64LL << 20);
    CHECK(parse_ram_bytes("2gb") == 2LL << 30);
    CHECK(parse_ram_bytes("1.5k") == 1536);
    CHECK_THROWS(parse_ram_bytes("k"));
    CHECK_THROWS(parse_ram_bytes("1q"));
    CHECK_THROWS(parse_ram_bytes("99999999999999p"));
}

TEST_CASE("RUN --mount from= a stage is an edge of the DAG", "[language][dag]") {
    const auto dag = parse("FROM a AS deps\nFROM b\nRUN --mount=type=bind,from=deps,target=/d ls\n"
                           "RUN --mount=type=cache,from=0,target=/c ls\n");
    const auto& stage = dag.stages.at(1);
    CHECK(stage.steps.at(0).mounts.at(0).from_stage == 0);
    CHECK(stage.steps.at(1).mounts.at(0).from_stage == 0);
    CHECK(stage.deps == std::vector<int>{0});
    CHECK(dag.build_order == std::vector<int>{0, 1});
    CHECK_THAT(error_of("FROM a\nRUN --mount=from=5,target=/x ls\n"), Catch::Contains("there is no stage 5"));
}

TEST_CASE("FROM --platform", "[language]") {
    ParseOptions options;
    options.build_args = {{"ARCH", "arm64"}};
    const auto dag = parse("ARG ARCH=amd64\nFROM --platform=linux/$ARCH alpine\nFROM alpine\n", options);
    CHECK(dag.stages.at(0).platform == "linux/arm64");
    CHECK(dag.stages.at(1).platform.empty());
    CHECK_THAT(error_of("FROM --plattform=x a\n"), Catch::Contains("unknown flag: --plattform (did you mean --platform?)"));
}

TEST_CASE("COPY --from=$VAR expands with the global ARGs before stage matching", "[language][dag]") {
    const std::string text = "ARG SRC=build\nFROM a AS build\nFROM b AS other\nFROM c\nCOPY --from=$SRC /x /y\n";
    const auto dag = parse(text);
    const auto& copy = dag.stages.at(2).steps.at(0);
    CHECK(copy.copy_from == "$SRC");
    CHECK(copy.copy_from_expanded == "build");
    CHECK(copy.copy_from_stage == 0);
    ParseOptions options;
    options.build_args = {{"SRC", "other"}};
    CHECK(parse(text, options).stages.at(2).steps.at(0).copy_from_stage == 1);
    options.build_args = {{"SRC", "busybox:1"}};
    const auto image = parse(text, options).stages.at(2).steps.at(0);
    CHECK_FALSE(image.copy_from_stage);
    CHECK(image.copy_from_expanded == "busybox:1");
}

TEST_CASE("ONBUILD wraps a typed instruction", "[language]") {
    const auto onbuild = only_step("FROM a\nONBUILD  RUN --network=none make install\n");
    CHECK(onbuild.kind == Kind::onbuild);
    REQUIRE(onbuild.onbuild.size() == 1);
    CHECK(onbuild.onbuild[0].kind == Kind::run);
    CHECK(onbuild.onbuild[0].network == "none");
    CHECK(onbuild.onbuild[0].command == std::vector<std::string>{"make install"});
    CHECK(onbuild.onbuild[0].loc.line == 2);
    CHECK(onbuild.onbuild_expression == "RUN --network=none make install");
    CHECK_THAT(error_of("FROM a\nONBUILD FROM b\n"), Catch::Contains("FROM isn't allowed as an ONBUILD trigger"));
    CHECK_THAT(error_of("FROM a\nONBUILD MAINTAINER me\n"), Catch::Contains("MAINTAINER isn't allowed as an ONBUILD trigger"));
    CHECK_THAT(error_of("FROM a\nONBUILD\n"), Catch::Contains("ONBUILD requires at least one argument"));
    CHECK_THAT(error_of("FROM a\nONBUILD RUNN x\n"), Catch::Contains("Buildfile:2:1: unknown instruction: RUNN (did you mean RUN?)"));
    CHECK_THAT(error_of("FROM a\nONBUILD COPY --bogus=1 a b\n"), Catch::Contains("unknown flag: --bogus"));
}

TEST_CASE("instructions without flags reject any flag", "[language]") {
    for (const std::string keyword : {"ENV a=b", "LABEL a=b", "USER x", "EXPOSE 80", "WORKDIR /x", "CMD x"}) {
        INFO(keyword);
        const auto space = keyword.find(' ');
        CHECK_THAT(error_of("FROM a\n" + keyword.substr(0, space) + " --x=1" + keyword.substr(space) + "\n"),
                   Catch::Contains("unknown flag: --x"));
    }
}

TEST_CASE("predefined platform ARGs reach FROM lines without a declaration", "[language][dag]") {
    ParseOptions options;
    options.predefined_args = {{"BUILDPLATFORM", "linux/amd64"}, {"TARGETARCH", "arm64"}};
    const auto dag = parse("FROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETARCH\nFROM alpine:$TARGETARCH\n",
                           options);
    CHECK(dag.stages.at(0).platform == "linux/amd64");
    CHECK(dag.stages.at(1).base == "alpine:arm64");
    // A global ARG without a default keeps the predefined value; with one, it takes over.
    const auto declared = parse("ARG TARGETARCH\nARG BUILDPLATFORM=linux/riscv64\nFROM --platform=$BUILDPLATFORM a:$TARGETARCH\n",
                                options);
    CHECK(declared.global_args.at(0).value == "arm64");
    CHECK(declared.stages.at(0).base == "a:arm64");
    CHECK(declared.stages.at(0).platform == "linux/riscv64");
    // Without them (the caller gave none), the words expand to nothing.
    CHECK(parse("FROM --platform=$BUILDPLATFORM a\n").stages.at(0).platform.empty());
}

} // namespace language_test
