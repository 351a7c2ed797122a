# lme4_confint.R -- profile likelihood confidence intervals, lme4's confint(method = "profile")
# (profile of the ML deviance, as lme4's profile() refits a REML model by ML), and parametric
# bootstrap percentile intervals, confint(method = "boot") (bootMer, use.u = FALSE; R's random
# stream, so compared within Monte Carlo error), for attunement.trials.confint; and the profile
# of a glmer fit (Laplace deviance over the SDs and the fixed effects).
# Data: the CSV files written by lme4_factors.R.
#   Rscript lme4_confint.R            (from tests/trials/data; writes lme4_confint.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
lctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-12, maxfun = 1e5))
read <- function(name) read.csv(paste0(name, ".csv"), stringsAsFactors = TRUE)
prof <- function(name, formula, reml = TRUE, level = 0.95) {
  m <- lmer(as.formula(formula), data = read(name), REML = reml, control = lctrl)
  ci <- confint(m, method = "profile", level = level, oldNames = FALSE)
  list(data = name, formula = formula, reml = reml, level = level,
       call = sprintf("confint(lmer(%s, %s, REML = %s), method = \"profile\", level = %g, oldNames = FALSE)",
                      formula, name, reml, level),
       parameters = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}
gctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhobeg = 2e-3, rhoend = 1e-12, maxfun = 1e5))
gprof <- function(name, formula, family, weights) {
  d <- read(name)
  m <- glmer(as.formula(formula), data = d, family = family, control = gctrl, weights = d[[weights]])
  ci <- confint(m, method = "profile", oldNames = FALSE)
  list(data = name, formula = formula, family = family, weights = weights, level = 0.95,
       call = sprintf("confint(glmer(%s, %s, %s, weights = %s), method = \"profile\", oldNames = FALSE)",
                      formula, name, family, weights),
       parameters = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}
boot <- function(name, formula, nsim, seed) {
  m <- lmer(as.formula(formula), data = read(name), control = lctrl)
  ci <- confint(m, method = "boot", nsim = nsim, seed = seed, oldNames = FALSE)
  list(data = name, formula = formula, reml = TRUE, level = 0.95, nsim = nsim, seed = seed,
       call = sprintf("confint(lmer(%s, %s), method = \"boot\", nsim = %d, seed = %d, oldNames = FALSE)",
                      formula, name, nsim, seed),
       parameters = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}
out <- list(versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            intervals = list(
              prof("machines", "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"),
              prof("oxboys", "height ~ age + (age | Subject)"),
              prof("oxboys", "height ~ age + I(age^2) + (1 | Subject)", reml = FALSE, level = 0.9)
            ),
            glmm = list(gprof("ucb", "p_admitted ~ Gender + (1 | Dept)", "binomial", "applicants")),
            bootstrap = list(boot("machines", "score ~ Machine + (1 | Worker)", 2000, 16)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "lme4_confint.json")
