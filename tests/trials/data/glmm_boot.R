# glmm_boot.R -- parametric bootstrap percentile intervals of a glmer fit, lme4's
# confint(method = "boot") (bootMer, use.u = FALSE; R's random stream, so compared within
# Monte Carlo error), for attunement.trials.confint(method="boot") on a GLMM.
# Data: ucb.csv (written by lme4_factors.R from R's UCBAdmissions).
#   Rscript glmm_boot.R            (from tests/trials/data; writes glmm_boot.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
gctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12)
d <- read.csv("ucb.csv", stringsAsFactors = TRUE)
formula <- "p_admitted ~ Gender + (1 | Dept)"
m <- glmer(as.formula(formula), data = d, family = binomial, weights = applicants, control = gctrl)
nsim <- 2000; seed <- 16
t0 <- proc.time()[["elapsed"]]
ci <- confint(m, method = "boot", nsim = nsim, seed = seed, oldNames = FALSE)
secs <- proc.time()[["elapsed"]] - t0
out <- list(versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            bootstrap = list(list(
              data = "ucb", formula = formula, family = "binomial", weights = "applicants",
              level = 0.95, nsim = nsim, seed = seed, seconds = secs,
              call = sprintf("confint(glmer(%s, ucb, binomial, weights = applicants), method = \"boot\", nsim = %d, seed = %d, oldNames = FALSE)",
                             formula, nsim, seed),
              parameters = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmm_boot.json")
