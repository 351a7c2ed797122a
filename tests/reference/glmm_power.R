# glmm_power.R -- reference power for a binary-outcome trial analysed by a logistic GLMM, by a
# plain simulate-and-glmer loop (simr is not installable here: r-cran-simr is not in Debian).
#   Rscript glmm_power.R            (run in tests/reference; writes glmm_power.json)
# Design (attunement.trials.TrialDesign): 2 arms x 40 families, 1 centre, 3 waves at times 0, 1, 2,
# binary outcome, P(y = 1) = 0.45 in control, odds ratio 2.5 at the last wave growing linearly
# (effect = "slope"), family ICC 0.2 on the latent scale (family variance 0.2/0.8 * pi^2/3), no
# attrition. Analysis: glmer(y ~ arm * time + (1 | family), binomial) by Laplace, Wald z test of
# arm1:time at alpha 0.05. Power = share of simulations with p < 0.05 (failed fits count as not
# significant, as in attunement.trials.run_power).
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
set.seed(20261204)
nsim <- 1000
F <- 80; times <- 0:2
vf <- 0.2 / 0.8 * pi^2 / 3
d <- expand.grid(wave = 1:3, family = 1:F)
d$time <- times[d$wave]
d$arm <- factor(ifelse(d$family <= F / 2, "0", "1"))
d$family <- factor(d$family)
beta_arm_time <- log(2.5) / 2
sig <- logical(nsim); est <- se <- rep(NA_real_, nsim); failed <- 0
t0 <- proc.time()[["elapsed"]]
for (s in 1:nsim) {
  b <- rnorm(F, 0, sqrt(vf))
  eta <- qlogis(0.45) + beta_arm_time * (d$arm == "1") * d$time + b[as.integer(d$family)]
  d$y <- rbinom(nrow(d), 1, plogis(eta))
  fit <- tryCatch(suppressMessages(suppressWarnings(
    glmer(y ~ arm * time + (1 | family), data = d, family = binomial))), error = function(e) NULL)
  if (is.null(fit)) { failed <- failed + 1; next }
  co <- summary(fit)$coefficients
  est[s] <- co["arm1:time", "Estimate"]; se[s] <- co["arm1:time", "Std. Error"]
  sig[s] <- co["arm1:time", "Pr(>|z|)"] < 0.05
}
el <- proc.time()[["elapsed"]] - t0
writeLines(toJSON(list(lme4 = as.character(packageVersion("lme4")), nsim = nsim, seed = 20261204,
                       design = list(n_per_arm = 40, arms = 2, centres = 1, waves = 3, effect = "slope",
                                     outcome = "binary", p_control = 0.45, odds_ratio = 2.5,
                                     icc_family = 0.2, attrition = 0),
                       term = "arm1:time", power = mean(sig), significant = sum(sig), failed = failed,
                       mean_estimate = mean(est, na.rm = TRUE), mean_se = mean(se, na.rm = TRUE),
                       seconds = el),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE), "glmm_power.json")
