"""The project wing's modules keep their public paths after being split along meaning."""

import lamina.advisor
import lamina.planning
import lamina.report

import lamina
from lamina.project import advice, findings, project, report_quality, runner


def test_split_names_are_reexported_from_their_original_modules():
    assert lamina.advisor.Advice is advice.Advice
    assert lamina.advisor.recommend is advice.recommend
    assert lamina.planning.Finding is findings.Finding
    assert lamina.report.bootstrap is report_quality.bootstrap
    assert project.StageContext is runner.StageContext
    assert project.split_dataset is runner.split_dataset
    assert lamina.project.STAGES is runner.STAGES and "report" in runner.STAGES


def test_generated_project_file_with_wrapped_comments_loads(tmp_path):
    path = lamina.project.init(
        tmp_path, name="digits", data="digits", kpi="accuracy", threshold=0.9
    )
    assert "# or an SQL URL; ${VARIABLE} is read from the environment" in path.read_text()
    loaded = lamina.Project.load(path)
    assert (loaded.kpi, loaded.threshold, loaded.data["source"]) == ("accuracy", 0.9, "digits")
    assert loaded.model == "auto" and loaded.run_dir == "runs"
