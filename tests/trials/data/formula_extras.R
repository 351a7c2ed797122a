# formula_extras.R -- lme4 formula extras (||, I(), log(), poly(), offset()) for
# attunement.trials (fit_lmm, fit_glmm), with the data written into the JSON:
#   Orthodont (nlme), ChickWeight (datasets), bacteria (MASS; y recoded 0/1).
#   Rscript formula_extras.R formula_extras.json
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else "formula_extras.json"
lctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-12, maxfun = 1e5))
gctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12, optCtrl = list(rhobeg = 2e-3, rhoend = 1e-12, maxfun = 1e5))
vc <- function(m) {
  v <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(v)), function(i) list(grp = v$grp[i], var1 = ifelse(is.na(v$var1[i]), "", v$var1[i]),
                                             var2 = ifelse(is.na(v$var2[i]), "", v$var2[i]), vcov = v$vcov[i]))
}
lmm <- function(name, formula, data) {
  m <- lmer(as.formula(formula), data = data, REML = TRUE, control = lctrl)
  list(kind = "lmm", name = name, formula = formula,
       call = sprintf("lmer(%s, data = %s)", formula, name),
       fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       varcorr = vc(m), logLik = as.numeric(logLik(m)))
}
glmm <- function(name, formula, data) {
  m <- glmer(as.formula(formula), data = data, family = binomial, control = gctrl)
  list(kind = "glmm", name = name, formula = formula,
       call = sprintf("glmer(%s, data = %s, family = binomial)", formula, name),
       fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       varcorr = vc(m), logLik = as.numeric(logLik(m)))
}
orth <- as.data.frame(nlme::Orthodont)
orth <- data.frame(distance = orth$distance, age = orth$age, Sex = as.character(orth$Sex),
                   Subject = as.character(orth$Subject))
chick <- as.data.frame(ChickWeight)
chick <- data.frame(weight = chick$weight, Time = chick$Time, Diet = as.character(chick$Diet),
                    Chick = as.character(chick$Chick))
bact <- MASS::bacteria
bact <- data.frame(y = as.integer(bact$y == "y"), trt = as.character(bact$trt), week = bact$week,
                   ID = as.character(bact$ID))
out <- list(
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
  data = list(Orthodont = orth, ChickWeight = chick, bacteria = bact),
  models = list(
    lmm("Orthodont", "distance ~ age + I(age^2) + Sex + (age || Subject)", orth),
    lmm("Orthodont", "distance ~ age * Sex + (1 + age || Subject)", orth),
    lmm("ChickWeight", "log(weight) ~ poly(Time, 3) + Diet + (1 | Chick)", chick),
    lmm("ChickWeight", "weight ~ Diet + log(Time + 1) + offset(2 * Time) + (1 | Chick)", chick),
    lmm("ChickWeight", "sqrt(weight) ~ poly(Time, 2) * Diet + (Time || Chick)", chick),
    glmm("bacteria", "y ~ trt + poly(week, 2) + (1 | ID)", bact),
    glmm("bacteria", "y ~ trt + I(week / 2) + log(week + 1) + (1 + week || ID)", bact)
  ))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
