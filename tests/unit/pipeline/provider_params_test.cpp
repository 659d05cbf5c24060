// Template-based providers (Provider::param_templates): the form each one gets is planned with
// the message, saved with its job and sent as planned; a status without a template goes to the
// next provider; the preview shows each form.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "daemon/pipeline/job_codec.hpp"
#include "providers/reasons.hpp"
#include "tests/unit/pipeline/pipeline_fixture.hpp"

namespace tinbao::testing {
namespace {

CompiledParamTemplate compiled(std::string id, const std::vector<std::string>& params,
                               std::string wording = {}) {
    CompiledParamTemplate t;
    t.template_id = std::move(id);
    t.wording = std::move(wording);
    for (auto& p : params) {
        auto c = tpl::Template::compile(p, "tinbao.yaml", 7, 3);
        EXPECT_TRUE(std::holds_alternative<tpl::Template>(c)) << p;
        t.params.push_back(std::get<tpl::Template>(std::move(c)));
    }
    return t;
}

class ProviderParamsTest : public PipelineTest {
  protected:
    // A template-based SMS provider with a template for result_ready.
    FakeProvider& add_templated(std::string name, std::string wording = {}) {
        auto& p = add_provider(std::move(name), Channel::sms);
        auto& s = slot(slots_.size() - 1);
        s.template_based = true;
        s.param_templates["result_ready"] =
            compiled("3101", {"{{ dossier.code }}", "{{ applicant.name }}"}, std::move(wording));
        return p;
    }
    static std::string accented_event(const std::string& id) {
        return R"({"event_id":")" + id + R"(","occurred_at":"2026-11-27T08:15:00+07:00",)" +
               R"("dossier":{"code":"H12.34-261127-0001","status":"result_ready"},)" +
               R"("applicant":{"name":"Nguyễn Văn\nAn","phone":"0912345678"}})";
    }
};

TEST_F(ProviderParamsTest, TheProviderGetsTheFormPlannedFromTheEvent) {
    cfg_.routes[0].channels = {Channel::sms};
    auto& vnpt = add_templated("vnpt", "Ho so {1} cua {2} da co ket qua");
    ASSERT_TRUE(post(accented_event("ev-1")));
    ASSERT_EQ(vnpt.requests.size(), 1u);
    const auto& form = vnpt.requests[0].provider_params;
    EXPECT_EQ(form.template_id, "3101");
    // One line, like every value of an event (the newline was made a space at ingest).
    EXPECT_EQ(form.values, (std::vector<std::string>{"H12.34-261127-0001", "Nguyễn Văn An"}));
    EXPECT_TRUE(form.unicode);  // sms.unicode auto: the whole text needs UCS-2
    EXPECT_EQ(form.text, "Ho so H12.34-261127-0001 cua Nguyễn Văn An da co ket qua");
    // The record shows what the recipient gets: the wording with the values.
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kSent);
    EXPECT_EQ(recs[0].body, form.text);
}

TEST_F(ProviderParamsTest, TheNeverPolicyRemovesDiacriticsFromTheValues) {
    cfg_.routes[0].channels = {Channel::sms};
    cfg_.sms.unicode = SmsSettings::Unicode::never;
    auto& vnpt = add_templated("vnpt");
    ASSERT_TRUE(post(accented_event("ev-1")));
    ASSERT_EQ(vnpt.requests.size(), 1u);
    const auto& form = vnpt.requests[0].provider_params;
    EXPECT_EQ(form.values[1], "Nguyen Van An");
    EXPECT_FALSE(form.unicode);
    EXPECT_EQ(form.text, "");  // no wording configured: the text they produce is unknown
}

TEST_F(ProviderParamsTest, AStatusWithoutATemplateGoesToTheNextProvider) {
    cfg_.routes[0].channels = {Channel::sms};
    auto& vnpt = add_templated("vnpt");
    slot(0).param_templates.clear();
    slot(0).param_templates["received"] = compiled("3100", {"{{ dossier.code }}"});
    auto& other = add_provider("esms", Channel::sms);
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    EXPECT_TRUE(vnpt.requests.empty());
    ASSERT_EQ(other.requests.size(), 1u);
    EXPECT_EQ(other.requests[0].provider_params.template_id, "");
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kSent);
    EXPECT_EQ(recs[0].provider, "esms");
}

TEST_F(ProviderParamsTest, WithNoOtherProviderTheMessageFailsWithTheReason) {
    cfg_.routes[0].channels = {Channel::sms};
    auto& vnpt = add_templated("vnpt");
    slot(0).param_templates.clear();
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    EXPECT_TRUE(vnpt.requests.empty());
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kFailed);
    EXPECT_EQ(recs[0].last_error_reason, reason::kTemplateNotRegistered);
    EXPECT_NE(recs[0].last_error_detail.find("no template for status result_ready"),
              std::string::npos);
}

TEST_F(ProviderParamsTest, ARetrySendsTheFormSavedWithTheJob) {
    cfg_.routes[0].channels = {Channel::sms};
    auto& vnpt = add_templated("vnpt");
    vnpt.script = {retryable()};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    auto jobs = scheduled();
    ASSERT_EQ(jobs.size(), 1u);
    auto saved = decode_job(jobs[0].payload);
    ASSERT_TRUE(saved);
    ASSERT_EQ(saved->provider_params.count("vnpt"), 1u);
    EXPECT_EQ(saved->provider_params.at("vnpt").values,
              (std::vector<std::string>{"D-1", "Nguyen Van A"}));
    // The templates change (a reload) before the retry: the message keeps its planned form.
    slot(0).param_templates["result_ready"] = compiled("9999", {"{{ applicant.phone }}"});
    ASSERT_TRUE(run_next_job());
    ASSERT_EQ(vnpt.requests.size(), 2u);
    EXPECT_EQ(vnpt.requests[1].provider_params.template_id, "3101");
    EXPECT_EQ(vnpt.requests[1].provider_params.values,
              (std::vector<std::string>{"D-1", "Nguyen Van A"}));
    EXPECT_EQ(records_of("ev-1")[0].state, state::kSent);
}

TEST_F(ProviderParamsTest, AJobSavedWithoutFormsIsPlannedAgainFromItsEvent) {
    cfg_.routes[0].channels = {Channel::sms};
    auto& vnpt = add_templated("vnpt");
    vnpt.script = {retryable()};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    auto jobs = scheduled();
    ASSERT_EQ(jobs.size(), 1u);
    // As an earlier version saved it: no provider_params.
    auto old = decode_job(jobs[0].payload);
    ASSERT_TRUE(old);
    old->provider_params.clear();
    const std::string payload = encode_job(*old);
    ASSERT_EQ(payload.find("provider_params"), std::string::npos);
    exec("UPDATE jobs SET payload = '" + payload + "'");
    ASSERT_TRUE(run_next_job());
    ASSERT_EQ(vnpt.requests.size(), 2u);
    EXPECT_EQ(vnpt.requests[1].provider_params.values,
              (std::vector<std::string>{"D-1", "Nguyen Van A"}));
    EXPECT_EQ(records_of("ev-1")[0].state, state::kSent);
}

TEST_F(ProviderParamsTest, FailoverToTheNextProviderNeedsNoEvent) {
    cfg_.routes[0].channels = {Channel::sms};
    cfg_.retry.max_attempts = 1;
    auto& first = add_provider("esms", Channel::sms);
    auto& vnpt = add_templated("vnpt");
    first.script = {retryable()};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    ASSERT_EQ(vnpt.requests.size(), 1u);
    EXPECT_EQ(vnpt.requests[0].provider_params.values,
              (std::vector<std::string>{"D-1", "Nguyen Van A"}));
    EXPECT_EQ(records_of("ev-1")[0].provider, "vnpt");
}

TEST_F(ProviderParamsTest, ThePreviewShowsEachForm) {
    cfg_.routes[0].channels = {Channel::sms};
    add_templated("vnpt", "Ho so {1} cua {2} da co ket qua");
    auto rt = std::make_shared<Runtime>();
    rt->config = std::make_shared<const Config>(cfg_);
    std::vector<tpl::Error> errors;
    rt->templates = tpl::TemplateSet::load(TINBAO_SOURCE_DIR "/templates", errors);
    rt->providers = slots_;
    auto parsed = parse_event(accented_event("ev-1"),
                              [&](std::string_view s) { return cfg_.canonical_status(s); });
    ASSERT_TRUE(parsed.event);
    auto out = boost::json::serialize(preview(*rt, *parsed.event));
    EXPECT_NE(out.find(R"("provider_templates":[{"provider":"vnpt","template_id":"3101",)"
                       R"("params":["H12.34-261127-0001","Nguyễn Văn An"],"encoding":"ucs2",)"
                       R"("text":"Ho so H12.34-261127-0001 cua Nguyễn Văn An da co ket qua"}])"),
              std::string::npos)
        << out;
}

TEST(FillWording, ReplacesTheNumberedPlaces) {
    EXPECT_EQ(fill_wording("{1} va {2}, {1}", {"a", "b"}), "a va b, a");
    EXPECT_EQ(fill_wording("{3} {0} {x} {", {"a"}), "{3} {0} {x} {");
    EXPECT_EQ(fill_wording("", {"a"}), "");
}

TEST(JobCodecForms, RoundTripsTheFormsOfTemplateBasedProviders) {
    SavedJob j;
    j.event = "{}";
    j.channel = Channel::sms;
    ProviderParams p;
    p.template_id = "3101";
    p.values = {"H12.34", "Nguyễn \"Văn\" An"};
    p.unicode = true;
    p.text = "Ho so H12.34";
    j.provider_params["vnpt"] = p;
    ProviderParams skipped;
    skipped.reason = "template_not_registered";
    skipped.detail = "provider vnpt2 has no template for status paused";
    j.provider_params["vnpt2"] = skipped;
    auto back = decode_job(encode_job(j));
    ASSERT_TRUE(back);
    ASSERT_EQ(back->provider_params.size(), 2u);
    auto& a = back->provider_params.at("vnpt");
    EXPECT_EQ(a.template_id, "3101");
    EXPECT_EQ(a.values, p.values);
    EXPECT_TRUE(a.unicode);
    EXPECT_EQ(a.text, p.text);
    EXPECT_TRUE(a.reason.empty());
    auto& b = back->provider_params.at("vnpt2");
    EXPECT_EQ(b.reason, skipped.reason);
    EXPECT_EQ(b.detail, skipped.detail);
}

TEST(JobCodecForms, AJobWithoutFormsReadsAsHavingNone) {
    auto j = decode_job(R"({"event":"{}","entry":"5","channel":"sms","mode":"fallback",)"
                        R"("channels":["sms"],"provider":0,"provider_attempts":0,)"
                        R"("epoch":1000,"accepted":900})");
    ASSERT_TRUE(j);
    EXPECT_TRUE(j->provider_params.empty());
    // And a job with none writes none (the format stays what earlier versions read).
    EXPECT_EQ(encode_job(*j).find("provider_params"), std::string::npos);
}

}  // namespace
}  // namespace tinbao::testing
