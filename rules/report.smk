# Figures and the written summary. `snakemake --report report.html` adds every output wrapped
# in report() (figures and tables, with the captions in report/) to one HTML file.


include: "inputs/report.smk"


rule figures:
    input:
        unpack(figure_inputs),
    output:
        **{
            name: report(
                f"{RESULTS}/figures/{name}.png",
                caption=f"../report/{caption}.rst",
                category="Figures",
            )
            for name, caption in FIGURES.items()
        },
    log:
        f"{RESULTS}/logs/report/figures.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        primary=PRIMARY,
    script:
        "../workflow/scripts/figures.py"


rule summary:
    input:
        unpack(figure_inputs),
    output:
        report(f"{RESULTS}/summary.md", caption="../report/summary_md.rst", category="Summary"),
    log:
        f"{RESULTS}/logs/report/summary.log",
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        primary=PRIMARY,
    script:
        "../workflow/scripts/summary.py"
