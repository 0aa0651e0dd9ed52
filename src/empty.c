/* placeholder for a layer that has no sources yet */
typedef int tb_empty_translation_unit;
