# Extra lme4 / lmerTest reference values for attunement.trials (run with R 4.2, lme4 1.1-31, lmerTest 3.1-3):
#   Rscript lme4_extra.R ../../reference/lmm_trial_public.csv lme4_extra.json
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$wavef <- factor(d$wave)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-12, maxfun = 1e5))
one <- function(formula, reml) {
  m <- lmer(as.formula(formula), data = d, REML = reml, control = ctrl)
  s <- summary(m, ddf = "Satterthwaite")$coefficients
  vc <- as.data.frame(VarCorr(m))
  list(formula = formula, reml = reml,
       fixef = as.list(fixef(m)), se = as.list(s[, "Std. Error"]), df = as.list(s[, "df"]),
       varcorr = lapply(seq_len(nrow(vc)), function(i) list(grp = vc$grp[i], var1 = vc$var1[i],
                        var2 = ifelse(is.na(vc$var2[i]), "", vc$var2[i]), vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
       logLik = as.numeric(logLik(m)), deviance = as.numeric(deviance(m, REML = reml)),
       theta = as.numeric(getME(m, "theta")), nobs = nobs(m))
}
out <- list(
  lme4 = as.character(packageVersion("lme4")), lmerTest = as.character(packageVersion("lmerTest")),
  models = list(
    one("y ~ arm * wave + (1 | centre) + (1 | family)", TRUE),
    one("y ~ arm * wave + (1 | centre) + (1 | family)", FALSE),
    one("y ~ arm * wave * smi + (1 | centre) + (1 | family)", TRUE),
    one("y ~ arm * wave + (1 | centre) + (1 + wave | family)", TRUE),
    one("y ~ arm * wave + (1 | centre) + (1 + wave | family)", FALSE),
    one("y ~ wavef * arm + (1 | centre/family)", TRUE),
    one("y ~ arm * wave + (1 | family)", TRUE),
    one("y ~ arm * wave + (1 + wave | centre) + (1 | family)", TRUE),
    one("y ~ arm + smi + (1 | family) + (1 | wavef)", TRUE)
  ))
m <- lmer(y ~ arm * wave + (1 | centre) + (1 + wave | family), data = d, REML = TRUE, control = ctrl)
re <- ranef(m)
out$ranef_slopes <- list(
  formula = "y ~ arm * wave + (1 | centre) + (1 + wave | family)",
  centre = setNames(as.list(re$centre[, 1]), rownames(re$centre)),
  family_intercept = setNames(as.list(re$family[1:10, 1]), rownames(re$family)[1:10]),
  family_wave = setNames(as.list(re$family[1:10, 2]), rownames(re$family)[1:10]))
m <- lmer(y ~ arm * wave + (1 | centre) + (1 | family), data = d, REML = TRUE, control = ctrl)
re <- ranef(m)
out$ranef <- list(
  formula = "y ~ arm * wave + (1 | centre) + (1 | family)",
  centre = setNames(as.list(re$centre[, 1]), rownames(re$centre)),
  family_intercept = setNames(as.list(re$family[1:10, 1]), rownames(re$family)[1:10]))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), args[2])
