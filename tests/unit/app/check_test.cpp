// `tinbaod --check`: the mistakes it must catch before production (a typo in a template value or
// filter, with a suggestion, without sample events; quiet hours that expire every message held;
// YAML indentation), each reported once, and the registered SMS wording checked only where a
// route sends SMS.
#include "daemon/check.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/unit/config/temp_dir.hpp"

namespace tinbao {
namespace {

using testing::TempDir;

struct CheckRun {
    int code = -1;
    std::string out;
    std::size_t count(const std::string& needle) const {
        std::size_t n = 0;
        for (std::size_t p = out.find(needle); p != std::string::npos; p = out.find(needle, p + 1))
            ++n;
        return n;
    }
    bool has(const std::string& needle) const { return out.find(needle) != std::string::npos; }
};

class Check : public ::testing::Test {
  protected:
    // A config with one outbox provider per channel; `routes` and `extra` (top-level keys) given.
    std::filesystem::path config(const std::string& routes, const std::string& extra = "",
                                 const std::string& sms_provider_keys = "") {
        return tmp_.write("tinbao.yaml", "state_dir: " + (tmp_.path() / "state").string() +
                                             "\n"
                                             "http:\n"
                                             "  clients:\n"
                                             "    - { name: igate, token: \"0123456789abcdef\" }\n"
                                             "providers:\n"
                                             "  - name: out-sms\n"
                                             "    channel: sms\n"
                                             "    type: outbox\n" +
                                             sms_provider_keys +
                                             "  - name: out-mail\n"
                                             "    channel: email\n"
                                             "    type: outbox\n"
                                             "routes:\n" +
                                             routes + extra);
    }
    void tpl(const std::string& status, const std::string& text) {
        tmp_.write("templates/" + status + ".yaml", text);
    }
    void sample(const std::string& name, const std::string& json) {
        tmp_.write("templates/samples/" + name, json);
    }
    CheckRun run(const std::filesystem::path& file) {
        char* buf = nullptr;
        std::size_t size = 0;
        std::FILE* f = open_memstream(&buf, &size);
        CheckRun r;
        r.code = run_check(file, f);
        std::fclose(f);
        r.out.assign(buf, size);
        std::free(buf);
        return r;
    }
    std::string file(const std::string& rel) const { return (tmp_.path() / rel).string(); }

    TempDir tmp_;
};

const char* kSample = R"({"event_id": "e1", "dossier": {"code": "H62-0007", "status": "received"},
  "applicant": {"name": "Nguyễn Văn An", "phone": "0912345678", "email": "an@example.vn"}})";

TEST_F(Check, AValueThatIsNotAFieldOfTheEventIsAnErrorWithoutSampleEvents) {
    tpl("received", "sms: \"Ho so {{ dossier.ma_ho_so }} da tiep nhan\"\n");
    auto r = run(config("  - { status: [received], channels: [sms] }\n"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(r.has(file("templates/received.yaml") + ":1:13: 'dossier.ma_ho_so' is not a "
                                                        "field of the event (did you mean "
                                                        "'dossier.code'?)"))
        << r.out;
    EXPECT_EQ(r.count("ma_ho_so"), 1u) << r.out;
}

TEST_F(Check, ATypoIsMatchedToTheClosestField) {
    tpl("received",
        "sms: \"{% if dossier.notes %}x{% endif %}{{ applicant.nmae }} {{ dossier.code }}\"\n"
        "email:\n"
        "  subject: \"{{ dossier.agency.nam | default('') }}\"\n"
        "  text: |\n"
        "    {{ data.anything.at_all }} {{ dossier.procedure }}\n");
    auto r = run(config("  - { status: [received], channels: [sms, email] }\n"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(
        r.has(":1:7: 'dossier.notes' is not a field of the event (did you mean "
              "'dossier.note'?)"))
        << r.out;
    EXPECT_TRUE(
        r.has(":1:41: 'applicant.nmae' is not a field of the event (did you mean "
              "'applicant.name'?)"))
        << r.out;
    EXPECT_TRUE(
        r.has(":3:13: 'dossier.agency.nam' is not a field of the event (did you mean "
              "'dossier.agency.name'?)"))
        << r.out;
    // data.* is free-form; an object cannot be inserted.
    EXPECT_FALSE(r.has("data.anything")) << r.out;
    EXPECT_TRUE(
        r.has(":5:32: 'dossier.procedure' is an object and cannot be inserted (its "
              "fields: dossier.procedure.code, dossier.procedure.name)"))
        << r.out;
    EXPECT_TRUE(r.has("4 problem(s)")) << r.out;
}

TEST_F(Check, FieldsThatTheSampleEventsCarryAreKnown) {
    tpl("received", "sms: \"Ho so {{ dossier.code }} linh vuc {{ dossier.sector.name }}\"\n");
    sample("a.json", R"({"event_id": "e1", "dossier": {"code": "H62", "status": "received",
        "sector": {"name": "Tu phap"}}, "applicant": {"phone": "0912345678"}})");
    auto r = run(config("  - { status: [received], channels: [sms] }\n"));
    EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(Check, AFilterTypoGetsASuggestion) {
    tpl("received", "sms: \"{{ applicant.name | uper }} {{ dossier.code }}\"\n");
    auto r = run(config("  - { status: [received], channels: [sms] }\n"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(r.has(":1:27: unknown filter 'uper' (did you mean 'upper'?)")) << r.out;
    tpl("received", "sms: \"{{ applicant.name | shout }} {{ dossier.code }}\"\n");
    r = run(config("  - { status: [received], channels: [sms] }\n"));
    EXPECT_TRUE(
        r.has("unknown filter 'shout' (filters: upper, lower, unaccent, default, date, "
              "vnd, truncate, mask_phone)"))
        << r.out;
}

TEST_F(Check, ABrokenTemplateIsReportedOnceNotAlsoAsMissing) {
    tpl("received", "sms: \"{{ dossier.code \"\n");
    auto r = run(config("  - { status: [received], channels: [sms] }\n"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_EQ(r.count("received"), 1u) << r.out;
    EXPECT_TRUE(r.has("1 problem(s)")) << r.out;
}

TEST_F(Check, ARenderErrorMetByEverySampleIsReportedOnce) {
    tpl("received", "sms: \"Ho so {{ dossier.code }} {{ dossier.note }}\"\n");
    sample("a.json", kSample);
    sample("b.json", kSample);
    sample("c.json", kSample);
    auto r = run(config("  - { status: [received], channels: [sms] }\n"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_EQ(r.count("no value for 'dossier.note'"), 1u) << r.out;
    EXPECT_TRUE(r.has("[sample a.json, sms, template_error]")) << r.out;
}

TEST_F(Check, QuietHoursLongerThanGiveUpAfterAreAWarning) {
    tpl("received", "sms: \"Ho so {{ dossier.code }}\"\n");
    auto quiet =
        "quiet_hours:\n"
        "  - { channels: [sms], from: \"21:00\", to: \"07:00\" }\n"
        "retry:\n"
        "  give_up_after: 8h\n";
    auto r = run(config("  - { status: [received], channels: [sms] }\n", quiet));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(r.has(file("tinbao.yaml") + ":15: warning: quiet_hours[0]: 21:00-07:00 lasts 10h, "
                                            "longer than retry.give_up_after (8h): every sms "
                                            "message queued at 21:00 expires before 07:00"))
        << r.out;
    EXPECT_TRUE(r.has("1 warning(s)")) << r.out;

    auto fine =
        "quiet_hours:\n"
        "  - { channels: [sms], from: \"21:00\", to: \"07:00\" }\n"
        "retry:\n"
        "  give_up_after: 11h\n";
    r = run(config("  - { status: [received], channels: [sms] }\n", fine));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_FALSE(r.has("warning")) << r.out;
}

TEST_F(Check, RegisteredWordingIsCheckedOnlyForStatusesARouteSendsBySms) {
    // `processing` goes by email only: its SMS part need not match the brandname's wording.
    tpl("received", "sms: \"Ho so {{ dossier.code }} da tiep nhan\"\n");
    tpl("processing",
        "sms: \"Dang xu ly {{ dossier.code }}\"\n"
        "email:\n  subject: \"{{ dossier.code }}\"\n  text: \"{{ dossier.code }}\"\n");
    sample("a.json", kSample);
    auto registered =
        "    registered_templates:\n"
        "      - \"Ho so {{ ma }} da tiep nhan\"\n";
    auto r =
        run(config("  - { status: [received], channels: [sms] }\n"
                   "  - { status: [processing], channels: [email] }\n",
                   "", registered));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_FALSE(r.has("processing.yaml")) << r.out;

    // Routed by SMS, it must match.
    r =
        run(config("  - { status: [received], channels: [sms] }\n"
                   "  - { status: [processing], channels: [sms, email] }\n",
                   "", registered));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_EQ(r.count("processing.yaml:1: "), 1u) << r.out;
    EXPECT_TRUE(r.has("template_not_registered")) << r.out;
}

TEST_F(Check, ConfigIndentationErrorsNameTheLineAndWhatWasExpected) {
    tpl("received", "sms: \"Ho so {{ dossier.code }}\"\n");
    auto f = tmp_.write("tinbao.yaml",
                        "http:\n"
                        "  listen: 127.0.0.1:8080\n"
                        "   max_body_bytes: 1000\n");
    auto r = run(f);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(r.has(f.string() + ":3: 'max_body_bytes' is indented 3 spaces, more than "
                                   "'listen' on line 2, which already has a value: expected 2 "
                                   "spaces"))
        << r.out;

    f = tmp_.write("tinbao.yaml",
                   "http:\n"
                   "  listen: 127.0.0.1:8080\n"
                   " max_body_bytes: 1000\n");
    r = run(f);
    EXPECT_TRUE(r.has(f.string() + ":3: 'max_body_bytes' is indented 1 space, where the lines "
                                   "above allow 2 or 0 spaces"))
        << r.out;

    f = tmp_.write("tinbao.yaml",
                   "routes:\n"
                   "  - status: [received]\n"
                   "   channels: [sms]\n");
    r = run(f);
    EXPECT_TRUE(r.has(f.string() + ":3: 'channels' is indented 3 spaces, where the lines above "
                                   "allow 4, 2 or 0 spaces"))
        << r.out;

    f = tmp_.write("tinbao.yaml",
                   "routes:\n"
                   "  - status: [received\n"
                   "    channels: [sms]\n");
    r = run(f);
    EXPECT_TRUE(r.has(f.string() + ":2: the '[' on this line is never closed")) << r.out;

    f = tmp_.write("tinbao.yaml", "http:\n\tlisten: 127.0.0.1:8080\n");
    r = run(f);
    EXPECT_TRUE(r.has(f.string() + ":2: a tab in the indentation")) << r.out;
}

TEST_F(Check, TemplateYamlErrorsSayWhatWasExpected) {
    tpl("received", "sms: {{ dossier.code }} da tiep nhan\n");
    auto r = run(config("  - { status: [received], channels: [sms] }\n"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(r.has(file("templates/received.yaml") +
                      ":1:25: a value that starts with '{' is read as a YAML mapping: put the "
                      "text in quotes"))
        << r.out;
    EXPECT_TRUE(r.has("1 problem(s)")) << r.out;

    tpl("received", "sms: Ho so {{ dossier.code }}: da tiep nhan\n");
    r = run(config("  - { status: [received], channels: [sms] }\n"));
    EXPECT_TRUE(r.has(file("templates/received.yaml") +
                      ":1:30: a value with ': ' in it must be in quotes: 'sms': \"...\""))
        << r.out;
}

TEST_F(Check, TheShippedConfigAndTemplatesAreClean) {
    auto r = run(std::filesystem::path(TINBAO_SOURCE_DIR) / "config/tinbao.example.yaml");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_FALSE(r.has("is not a field")) << r.out;
}

}  // namespace
}  // namespace tinbao
