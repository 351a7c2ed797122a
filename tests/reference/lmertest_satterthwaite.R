# lmertest_satterthwaite.R -- Satterthwaite denominator df from lmerTest on lme4's own data sets
# (Dyestuff, sleepstudy, Penicillin, Pastes, cake), with the data written into the JSON.
#   Rscript lmertest_satterthwaite.R lmertest_satterthwaite.json
# lmerTest differentiates numerically (numDeriv, Richardson extrapolation); its df are accurate
# to ~1e-9 relative, far below the 1e-6 the Python tests ask for.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "lmertest_satterthwaite.json"
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-12, maxfun = 1e5))
one <- function(name, formula, data, reml, contrasts = list()) {
  m <- lmer(as.formula(formula), data = data, REML = reml, control = ctrl)
  s <- summary(m, ddf = "Satterthwaite")$coefficients
  cons <- lapply(contrasts, function(L) {
    r <- contest1D(m, L, ddf = "Satterthwaite")
    list(L = L, estimate = r$Estimate, se = r[["Std. Error"]], df = r$df, t = r[["t value"]], p = r[["Pr(>|t|)"]])
  })
  list(name = name, formula = formula, reml = reml, call = sprintf("summary(lmer(%s, data = %s, REML = %s), ddf = 'Satterthwaite')", formula, name, reml),
       fixef = as.list(fixef(m)), se = as.list(s[, "Std. Error"]), df = as.list(s[, "df"]),
       t = as.list(s[, "t value"]), p = as.list(s[, "Pr(>|t|)"]),
       logLik = as.numeric(logLik(m)), theta = as.numeric(getME(m, "theta")), sigma = sigma(m),
       contrasts = cons)
}
dye <- as.data.frame(Dyestuff); dye$Batch <- as.character(dye$Batch)
sleep <- as.data.frame(sleepstudy); sleep$Subject <- as.character(sleep$Subject)
pen <- as.data.frame(Penicillin); pen$plate <- as.character(pen$plate); pen$sample <- as.character(pen$sample)
pas <- as.data.frame(Pastes); pas$batch <- as.character(pas$batch); pas$cask <- as.character(pas$cask)
pas$sample <- NULL
cake2 <- as.data.frame(cake); cake2$recipe <- as.character(cake2$recipe); cake2$replicate <- as.integer(cake2$replicate)
cake2$rr <- paste(cake2$recipe, cake2$replicate, sep = ".")
cake2 <- cake2[, c("angle", "recipe", "temp", "rr")]
out <- list(
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest"))),
  data = list(Dyestuff = dye, sleepstudy = sleep, Penicillin = pen, Pastes = pas, cake = cake2),
  models = list(
    one("Dyestuff", "Yield ~ 1 + (1 | Batch)", dye, TRUE),
    one("Dyestuff", "Yield ~ 1 + (1 | Batch)", dye, FALSE),
    one("sleepstudy", "Reaction ~ Days + (Days | Subject)", sleep, TRUE, list(c(1, 10))),
    one("sleepstudy", "Reaction ~ Days + (Days | Subject)", sleep, FALSE),
    one("sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep, TRUE),
    one("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", pen, TRUE),
    one("Pastes", "strength ~ 1 + (1 | batch/cask)", pas, TRUE),
    one("cake", "angle ~ recipe * temp + (1 | rr)", cake2, TRUE, list(c(0, 1, 0, 0, 0, 0), c(0, 0, 0, 1, 0, 0)))
  ))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, dataframe = "columns"), out_file)
