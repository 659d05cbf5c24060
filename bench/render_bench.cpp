// Rendering benchmark (bench/README.md): the shipped result_ready SMS template against the
// result_ready_full sample, and sms::plan of its output. Single-threaded.
#include "daemon/render/sms_text.hpp"
#include "daemon/render/template.hpp"

#include <benchmark/benchmark.h>
#include <boost/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

using namespace tinbao;

struct Fixture {
    std::shared_ptr<const tpl::TemplateSet> set;
    const tpl::Template* sms = nullptr;
    boost::json::value ctx;
    std::string rendered;
};

// Loads the shipped template and sample once; exits on any problem (a benchmark of a broken
// template would measure the error path).
const Fixture& fixture() {
    static const Fixture f = [] {
        Fixture x;
        std::vector<tpl::Error> errors;
        x.set = tpl::TemplateSet::load(TINBAO_SOURCE_DIR "/templates", errors);
        const tpl::StatusTemplates* st = x.set->find("result_ready");
        if (!errors.empty() || !st || !st->sms) {
            for (const auto& e : errors) std::cerr << e.str() << "\n";
            std::cerr << "render_bench: templates/result_ready.yaml has no usable sms part\n";
            std::exit(1);
        }
        x.sms = &*st->sms;
        std::ifstream in(TINBAO_SOURCE_DIR "/templates/samples/result_ready_full.json");
        std::stringstream text;
        text << in.rdbuf();
        boost::system::error_code ec;
        x.ctx = boost::json::parse(text.str(), ec);
        if (ec || !x.ctx.is_object()) {
            std::cerr << "render_bench: cannot read templates/samples/result_ready_full.json\n";
            std::exit(1);
        }
        x.ctx.as_object()["status_label"] = tpl::status_label("result_ready");
        auto r = x.sms->render(x.ctx);
        if (auto* err = std::get_if<tpl::Error>(&r)) {
            std::cerr << "render_bench: " << err->str() << "\n";
            std::exit(1);
        }
        x.rendered = std::get<std::string>(r);
        return x;
    }();
    return f;
}

void BM_RenderSms(benchmark::State& state) {
    const Fixture& f = fixture();
    for (auto _ : state) {
        auto r = f.sms->render(f.ctx);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(f.rendered.size()) + " bytes");
}
BENCHMARK(BM_RenderSms);

void BM_PlanSms(benchmark::State& state) {
    const Fixture& f = fixture();
    for (auto _ : state) {
        auto p = sms::plan(f.rendered, sms::UnicodePolicy::auto_, 3);
        benchmark::DoNotOptimize(p);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PlanSms);

void BM_RenderAndPlanSms(benchmark::State& state) {
    const Fixture& f = fixture();
    for (auto _ : state) {
        auto r = f.sms->render(f.ctx);
        auto p = sms::plan(std::get<std::string>(r), sms::UnicodePolicy::auto_, 3);
        benchmark::DoNotOptimize(p);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderAndPlanSms);

}  // namespace

BENCHMARK_MAIN();
